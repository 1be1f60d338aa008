"""`freigabe demo`: the whole pipeline on this machine, with a sample app and real HTTP on loopback.

It sits beside the command line (it drives the use cases and shows their progress in the
terminal); `app` is the sample application the demo and the tests deploy.
"""
