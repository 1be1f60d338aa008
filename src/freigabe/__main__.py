from freigabe.cli import main

main()
