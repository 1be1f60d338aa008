"""German texts for the report, gettext-style: the English text is the key.

Findings and steps are written in English where they are made (checks, pipeline); the report
looks each text up here for `--lang de`. Exact texts first, then patterns for texts that
carry values (a file, a URL, a count). A text with no entry stays English: the facts in it
(paths, commands, excerpts) are never altered.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EXACT: dict[str, str] = {
    # -- repository checks: titles
    "Artifact comes from the run that built it": "Artefakt stammt aus dem Run, der es gebaut hat",
    "Automatic rollback only after the switch": "Auto-Rollback nur nach dem Switch",
    "Build and deploy agree on the bundle name": "Build und Deploy verwenden denselben Bundle-Namen",
    "Deploy job names its environment": "Deploy-Job nennt sein Environment",
    "Deploy waits for its build": "Deploy wartet auf seinen Build",
    "Deploy verifies the host key": "Deploy prüft den Host-Key",
    "Grace period / readiness": "Grace Period / Readiness",
    "Health check after the switch": "Health Check nach dem Switch",
    "Health check retry": "Health-Check-Retry",
    "Health checks can fail": "Health Checks können fehlschlagen",
    "One deploy at a time": "Nur ein Deploy gleichzeitig",
    "PHP-FPM OPcache reload": "PHP-FPM-OPcache-Reload",
    "Post-switch cache clear": "Cache Clear nach dem Switch",
    "Workflow names are unique": "Workflow-Namen sind eindeutig",
    "jq null guard": "jq-null-Guard",
    "workflow_run deploy requires a successful build": "workflow_run-Deploy verlangt einen erfolgreichen Build",
    "Workflow file parses": "Workflow-Datei ist lesbar",
    "Script parses": "Skript ist lesbar",
    "Called workflow accepts the call": "Aufgerufener Workflow akzeptiert den Aufruf",
    # -- repository checks: SOLL
    "Laravel caches cleared (or built in the new release) around the switch": "Laravel-Caches rund um den Switch "
    "geleert (oder im neuen Release gebaut)",
    "PHP-FPM reloaded after the switch, failures visible": "PHP-FPM nach dem Switch neu geladen, Fehler sichtbar",
    "a deploy job declares `environment:` (protection rules, reviewers, per-stage secrets)": "ein Deploy-Job "
    "deklariert `environment:` (Schutzregeln, Reviewer, Secrets pro Stufe)",
    "a deploy job is in a `concurrency:` group that does not cancel a running deploy": "ein Deploy-Job ist in "
    "einer `concurrency:`-Gruppe, die einen laufenden Deploy nicht abbricht",
    "a deploy started by `workflow_run` runs only when `github.event.workflow_run.conclusion == 'success'`": "ein "
    "von `workflow_run` gestarteter Deploy läuft nur bei `github.event.workflow_run.conclusion == 'success'`",
    "a health or smoke request fails the job when the app is unhealthy": "ein Health- oder Smoke-Request lässt den "
    "Job fehlschlagen, wenn die App ungesund ist",
    "a health request after the switch decides the job": "ein Health-Request nach dem Switch entscheidet den Job",
    'a jq lookup that finds nothing stops the job: `// empty`, `jq -e` or a test for "null"': "ein jq-Lookup ohne "
    'Treffer stoppt den Job: `// empty`, `jq -e` oder ein Test auf "null"',
    "a reusable workflow declares `on: workflow_call`": "ein wiederverwendbarer Workflow deklariert "
    "`on: workflow_call`",
    "a rollback that runs only when the switch happened, to the release recorded before it": "ein Rollback, der "
    "nur nach erfolgtem Switch läuft, zum vorher festgehaltenen Release",
    "an artifact of another workflow is downloaded with the run id of the run that uploaded it": "ein Artefakt "
    "eines anderen Workflows wird mit der Run-ID des hochladenden Runs geladen",
    "health checks retried (e.g. 6 × 5 s)": "Health Checks mit Retry (z. B. 6 × 5 s)",
    "one workflow per display name (tools that address workflows by name pick one)": "ein Workflow pro Anzeigename "
    "(Werkzeuge, die Workflows per Namen ansprechen, wählen einen)",
    "the deploy downloads an artifact name some workflow uploads": "der Deploy lädt einen Artefakt-Namen, den ein "
    "Workflow hochlädt",
    "the deploy starts after the build of the same commit finished (workflow_run: completed, or it waits)": "der "
    "Deploy startet erst, wenn der Build desselben Commits fertig ist (workflow_run: completed, oder er wartet)",
    "wait until the new release answers (polling; a fixed sleep is only a floor)": "warten, bis das neue Release "
    "antwortet (Polling; ein fester Sleep ist nur eine Untergrenze)",
    "a YAML mapping with `on:` and `jobs:`": "ein YAML-Mapping mit `on:` und `jobs:`",
    # -- repository checks: fixes
    "add `environment: production` (or staging) and protect it in the repository settings": "`environment: "
    "production` (oder staging) ergänzen und in den Repository-Einstellungen schützen",
    "add `workflow_call:` to its `on:`": "`workflow_call:` in sein `on:` aufnehmen",
    "add `concurrency: { group: deploy-${{ inputs.environment || 'production' }}, cancel-in-progress: false }`": (
        "`concurrency: { group: deploy-${{ inputs.environment || 'production' }}, cancel-in-progress: false }` ergänzen"
    ),
    'end the filter with `// empty` (or use `jq -e`) and keep `[ -z "$VAR" ]`': "den Filter mit `// empty` "
    'beenden (oder `jq -e` verwenden) und `[ -z "$VAR" ]` beibehalten',
    "guard with `if: failure() && steps.switch.outcome == 'success'` and record the previous release": "mit "
    "`if: failure() && steps.switch.outcome == 'success'` absichern und das vorige Release festhalten",
    "poll until the new release answers (a fixed sleep is only a floor)": "pollen, bis das neue Release antwortet "
    "(ein fester Sleep ist nur eine Untergrenze)",
    "reload with `sudo -n service php8.x-fpm reload` (or `kill -USR2`) and let failures fail": "mit `sudo -n "
    "service php8.x-fpm reload` (oder `kill -USR2`) neu laden und Fehler fehlschlagen lassen",
    "rename or remove the duplicate, and address workflows by file (`gh workflow run deploy.yml`)": "das Duplikat "
    "umbenennen oder entfernen und Workflows per Datei ansprechen (`gh workflow run deploy.yml`)",
    "retry the health request in a bounded loop (or `curl --retry 6 --retry-delay 5 --retry-all-errors`)": "den "
    "Health-Request in einer begrenzten Schleife wiederholen (oder `curl --retry 6 --retry-delay 5 "
    "--retry-all-errors`)",
    "run `php artisan optimize:clear` (or the cache commands) after switching": "nach dem Switch `php artisan "
    "optimize:clear` (oder die Cache-Befehle) ausführen",
    "trigger on `workflow_run` (types: [completed]) of the build, or `gh run watch` the build run": "auf "
    "`workflow_run` (types: [completed]) des Builds auslösen, oder den Build-Run mit `gh run watch` abwarten",
    "use `curl --fail`, expect 200 only, drop `|| true` and fallbacks, record the real result": "`curl --fail` "
    "verwenden, nur 200 erwarten, `|| true` und Fallbacks entfernen, das echte Ergebnis festhalten",
    "use one name in both workflows, e.g. `deployment-bundle-${{ github.sha }}`": "in beiden Workflows einen Namen "
    "verwenden, z. B. `deployment-bundle-${{ github.sha }}`",
    "pass `run-id: ${{ github.event.workflow_run.id }}` and `github-token:` to actions/download-artifact": "`run-id: "
    "${{ github.event.workflow_run.id }}` und `github-token:` an actions/download-artifact übergeben",
    "fix the file so GitHub can run it (or delete it)": "die Datei reparieren, damit GitHub sie ausführen kann "
    "(oder löschen)",
    # -- server checks
    "current symlink": "current-Symlink",
    "current → a complete release": "current → ein vollständiges Release",
    "no current link yet (first deploy)": "noch kein current-Link (erster Deploy)",
    "the first deploy creates it": "der erste Deploy legt ihn an",
    "roll back to a release that exists: `freigabe rollback ENV --to RELEASE`": "auf ein vorhandenes Release "
    "zurückrollen: `freigabe rollback ENV --to RELEASE`",
    "Newest release is the live one": "Neuestes Release ist das Live-Release",
    "the newest release is current (no failed deploy since)": "das neueste Release ist current (seither kein "
    "fehlgeschlagener Deploy)",
    "Required files in the live release": "Pflichtdateien im Live-Release",
    "deploy a complete release or roll back": "ein vollständiges Release deployen oder zurückrollen",
    "Deploy lock": "Deploy-Lock",
    "free": "frei",
    "free when no deploy runs": "frei, wenn kein Deploy läuft",
    "`freigabe fix server.lock` clears an abandoned lock (after checking that run is gone)": "`freigabe fix "
    "server.lock` entfernt einen verwaisten Lock (nachdem geprüft ist, dass der Run weg ist)",
    "Free disk space": "Freier Speicherplatz",
    "free space on the target (old backups, `freigabe cleanup ENV`)": "Platz auf dem Ziel schaffen (alte Backups, "
    "`freigabe cleanup ENV`)",
    "Health token matches": "Health-Token stimmt überein",
    "SHA-256 of the token value here = SHA-256 of the value in the target's .env": "SHA-256 des Token-Werts hier "
    "= SHA-256 des Werts in der .env des Ziels",
    "Reload without a password": "Reload ohne Passwort",
    "reloads need no password": "Reloads brauchen kein Passwort",
    "no reload command uses sudo": "kein Reload-Befehl verwendet sudo",
    "`sudo -n -l` allows each reload command without a password": "`sudo -n -l` erlaubt jeden Reload-Befehl ohne "
    "Passwort",
    "add a NOPASSWD sudoers rule for exactly those commands for the deploy user": "eine NOPASSWD-sudoers-Regel für "
    "genau diese Befehle für den Deploy-User anlegen",
    "nginx -t": "nginx -t",
    "`nginx -t` passes": "`nginx -t` ist erfolgreich",
    "passes": "erfolgreich",
    "fix the nginx configuration first": "zuerst die nginx-Konfiguration reparieren",
    "PHP sees the new release at once": "PHP sieht das neue Release sofort",
    "a root under current/ passes $realpath_root to PHP-FPM": "ein root unter current/ übergibt $realpath_root an "
    "PHP-FPM",
    "add .env to [deploy] shared_files": ".env in [deploy] shared_files aufnehmen",
    ".env is a link into shared/": ".env ist ein Link nach shared/",
    ".env is not a link (a copy is lost at the next deploy)": ".env ist kein Link (eine Kopie geht beim nächsten "
    "Deploy verloren)",
    "Pending migrations": "Offene Migrations",
    "the status command runs": "der Status-Befehl läuft",
    "known before the deploy": "vor dem Deploy bekannt",
    "none pending": "keine offen",
    "the deploy runs them after the backup; review them first": "der Deploy führt sie nach dem Backup aus; vorher "
    "prüfen",
    "run the migrations status command by hand to see why": "den Migrations-Status-Befehl von Hand ausführen, um "
    "den Grund zu sehen",
    "Live release unchanged since deploy": "Live-Release seit dem Deploy unverändert",
    "files match the manifest recorded at deploy": "Dateien entsprechen dem beim Deploy festgehaltenen Manifest",
    "no file edited on the server (hotfixes go through a deploy)": "keine Datei auf dem Server editiert (Hotfixes "
    "laufen über einen Deploy)",
    "all files match the manifest": "alle Dateien entsprechen dem Manifest",
    "no manifest for this release (not deployed by freigabe)": "kein Manifest für dieses Release (nicht mit "
    "freigabe deployt)",
    "deploy once with freigabe to record one": "einmal mit freigabe deployen, um eines festzuhalten",
    "put the hotfix into the repository and deploy it; never edit files in current": "den Hotfix ins Repository "
    "bringen und deployen; nie Dateien in current editieren",
    "current was set by freigabe": "current wurde von freigabe gesetzt",
    "the ledger's last switch is what current points at": "der letzte Switch im Ledger ist das Ziel von current",
    "matches the ledger": "stimmt mit dem Ledger überein",
    "no switch recorded yet: current predates freigabe": "noch kein Switch festgehalten: current stammt aus der "
    "Zeit vor freigabe",
    "the first freigabe deploy records its switch": "der erste freigabe-Deploy hält seinen Switch fest",
    "find out who switched by hand; then `freigabe rollback ENV --to` the right release": "herausfinden, wer von "
    "Hand umgeschaltet hat; dann `freigabe rollback ENV --to` auf das richtige Release",
    "Live release verified": "Live-Release verifiziert",
    "the run that made the live release live proved it answers healthy": "der Run, der das Live-Release live "
    "geschaltet hat, hat bewiesen, dass es gesund antwortet",
    "`freigabe recover ENV` checks it as the deploy would have and rolls back if it fails": "`freigabe recover ENV` "
    "prüft es wie der Deploy und rollt zurück, wenn es fehlschlägt",
    "The environment URL answers": "Die Environment-URL antwortet",
    "start the web server, or correct `url` in freigabe.toml; the deploy would stop at url.check": "den Webserver "
    "starten oder `url` in freigabe.toml korrigieren; der Deploy würde bei url.check stoppen",
    ".env links into shared/": ".env verlinkt nach shared/",
    "Ledger unchanged since the local copy saw it": "Ledger unverändert, seit die lokale Kopie ihn sah",
    "the target's ledger starts with exactly the entries the local copy witnessed": "der Ledger des Ziels beginnt "
    "mit genau den Einträgen, die die lokale Kopie bezeugt",
    "`freigabe ledger verify ENV` shows which entries; find out who changed them before any deploy": "`freigabe "
    "ledger verify ENV` zeigt welche Einträge; vor jedem Deploy klären, wer sie geändert hat",
    # -- GitHub checks
    "Workflow inventory": "Workflow-Inventar",
    "workflows readable": "Workflows lesbar",
    "build and deploy workflows present and active": "Build- und Deploy-Workflows vorhanden und aktiv",
    "enable or add the workflow named in [github]": "den in [github] genannten Workflow aktivieren oder anlegen",
    "a token with 'Actions: read'": "ein Token mit 'Actions: read'",
    "readable": "lesbar",
    "find the root cause of the failures before deploying (the runs' logs)": "die Ursache der Fehlschläge vor dem "
    "Deploy finden (Logs der Runs)",
    "Build artifact for the commit": "Build-Artefakt für den Commit",
    "wait for the build to finish (or re-run it) before deploying": "vor dem Deploy warten, bis der Build fertig ist "
    "(oder ihn neu starten)",
    "upload the bundle as an artifact named like the deploy expects": "das Bundle als Artefakt mit dem Namen "
    "hochladen, den der Deploy erwartet",
    "re-run the build; raise retention-days if bundles expire before deploys": "den Build neu starten; "
    "retention-days erhöhen, wenn Bundles vor dem Deploy ablaufen",
    "no completed runs": "keine abgeschlossenen Runs",
}

Pattern = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _p(regex: str, german: str) -> Pattern:
    return re.compile(regex), lambda m: german.format(**m.groupdict())


PATTERNS: list[Pattern] = [
    # titles with the file or branch they are about
    _p(r"^Branch protection \((?P<b>.+)\)$", "Branch Protection ({b})"),
    _p(r"^Recent runs \((?P<w>.+)\)$", "Letzte Runs ({w})"),
    _p(r"^Check (?P<c>\S+) ran$", "Check {c} ist gelaufen"),
    # SOLL and IST with values
    _p(r"^(?P<n>\d+) required files and directories present$", "{n} Pflichtdateien und -verzeichnisse vorhanden"),
    _p(r"^(?P<n>\d+)/(?P=n) present$", "{n}/{n} vorhanden"),
    _p(r"^missing: (?P<x>.+)$", "fehlt: {x}"),
    _p(r"^≥ (?P<n>\d+) MiB free \(twice the release\)$", "≥ {n} MiB frei (das Doppelte des Release)"),
    _p(r"^(?P<n>\d+) MiB free(?P<rest>.*)$", "{n} MiB frei{rest}"),
    _p(
        r"^(?P<url>\S+) answers HTTP \(the deploy checks it before anything changes, SOLL 5\)$",
        "{url} antwortet per HTTP (der Deploy prüft das, bevor sich etwas ändert, SOLL 5)",
    ),
    _p(r"^(?P<url>\S+) answers$", "{url} antwortet"),
    _p(r"^(?P<url>\S+) does not answer \((?P<why>.+)\)$", "{url} antwortet nicht ({why})"),
    _p(r"^fewer than (?P<n>\d+) failed runs in a row$", "weniger als {n} fehlgeschlagene Runs in Folge"),
    _p(r"^the last (?P<n>\d+) runs failed$", "die letzten {n} Runs sind fehlgeschlagen"),
    _p(r"^digests match (?P<rest>.*)$", "Digests stimmen überein {rest}"),
    _p(
        r"^digests differ: health checks will answer 401 (?P<rest>.*)$",
        "Digests unterscheiden sich: Health Checks werden mit 401 antworten {rest}",
    ),
    _p(
        r"^export (?P<v>\S+) here and set it in shared/.env on the target$",
        "{v} hier exportieren und in shared/.env auf dem Ziel setzen",
    ),
    _p(
        r"^make (?P<v>\S+) \(CI secret\) and the target's .env hold the same value$",
        "{v} (CI-Secret) und die .env des Ziels auf denselben Wert setzen",
    ),
    _p(r"^\.env → (?P<p>.+)$", ".env → {p}"),
    _p(r"^(?P<n>\d+) releases?, newest is current$", "{n} Release(s), das neueste ist current"),
    # steps
    _p(
        r"^Target reachable, (?P<p>\S+) writable, free space for the release$",
        "Ziel erreichbar, {p} beschreibbar, Platz für das Release",
    ),
    _p(
        r"^Environment URL answers: (?P<u>\S+); the live release passes (?P<n>\d+) health checks?$",
        "Environment-URL antwortet: {u}; das Live-Release besteht {n} Health Check(s)",
    ),
    _p(r"^Environment URL answers: (?P<u>\S+)$", "Environment-URL antwortet: {u}"),
    _p(r"^Backup: app files(?P<db> \+ database dump)? \+ SHA256SUMS$", "Backup: App-Dateien{db} + SHA256SUMS"),
    _p(
        r"^Stream (?P<b>\S+) to the target: hashed, kept and unpacked into a hidden folder at once$",
        "{b} zum Ziel streamen: in einem Durchgang gehasht, abgelegt und verdeckt entpackt",
    ),
    _p(
        r"^Stream (?P<b>\S+) to the target, unpacked into a temporary folder$",
        "{b} zum Ziel streamen, in einen temporären Ordner entpackt",
    ),
    _p(r"^Verify SHA-256 on the target: (?P<d>\S+)$", "SHA-256 auf dem Ziel prüfen: {d}"),
    _p(
        r"^Members as checked, then into (?P<d>\S+) \+ file manifest$",
        "Einträge wie geprüft, dann nach {d} + Datei-Manifest",
    ),
    _p(
        r"^Members as checked, then into (?P<d>\S+) \(a temporary copy, never live\)$",
        "Einträge wie geprüft, dann nach {d} (temporäre Kopie, nie live)",
    ),
    _p(r"^Link shared files and directories from shared/$", "Shared-Dateien und -Verzeichnisse aus shared/ verlinken"),
    _p(r"^Link shared files into the copy$", "Shared-Dateien in die Kopie verlinken"),
    _p(
        r"^Layer-2 gates: (?P<f>\d+) files?, (?P<d>\d+) director(?:y|ies) in the release$",
        "Layer-2-Gates: {f} Datei(en), {d} Verzeichnis(se) im Release",
    ),
    _p(r"^Gates: (?P<f>\d+) files?, (?P<d>\d+) dirs?$", "Gates: {f} Datei(en), {d} Verzeichnis(se)"),
    _p(r"^Layer-(?P<n>[23]) gate: (?P<c>.+)$", "Layer-{n}-Gate: {c}"),
    _p(r"^Migrations: (?P<c>.+)$", "Migrationen: {c}"),
    _p(r"^Cache \(before switch\): (?P<c>.+)$", "Cache (vor dem Switch): {c}"),
    _p(r"^Cache \(after switch\): (?P<c>.+)$", "Cache (nach dem Switch): {c}"),
    _p(r"^Reload: (?P<c>.+)$", "Reload: {c}"),
    _p(r"^Atomic switch: current → (?P<r>\S+)$", "Atomarer Switch: current → {r}"),
    _p(r"^Rollback: current → (?P<r>\S+)$", "Rollback: current → {r}"),
    _p(
        r"^Readiness: poll (?P<u>\S+) until (?P<r>\S+) answers \(up to (?P<t>[\d.]+) s\)$",
        "Readiness: {u} abfragen, bis {r} antwortet (bis {t} s)",
    ),
    _p(
        r"^Readiness: wait (?P<t>[\d.]+) s \(no release probe to prove (?P<r>\S+) answers\)$",
        "Readiness: {t} s warten (keine Release-Probe, die beweist, dass {r} antwortet)",
    ),
    _p(
        r"^Health check (?P<n>\S+): (?P<u>\S+) → (?P<s>\d+) \((?P<a>\d+) × (?P<i>[\d.]+) s\)$",
        "Health Check {n}: {u} → {s} ({a} × {i} s)",
    ),
    _p(
        r"^Assets: the manifest is valid and every file it names is served(?P<rest>.*)$",
        "Assets: Manifest gültig, jede darin genannte Datei wird ausgeliefert{rest}",
    ),
    _p(r"^Mark (?P<r>\S+) good$", "{r} als gut markieren"),
    _p(r"^Mark (?P<r>\S+) bad$", "{r} als schlecht markieren"),
    _p(
        r"^Retention: keep (?P<n>\d+) releases? \(never current or the previous good one\)$",
        "Aufbewahrung: {n} Release(s) behalten (nie current oder das vorige gute)",
    ),
    _p(r"^nginx -t: (?P<c>.+)$", "nginx -t: {c}"),
    _p(r"^\.env in the copy is a link into shared/$", ".env in der Kopie ist ein Link nach shared/"),
    _p(r"^Pending migrations: (?P<c>.+)$", "Offene Migrations: {c}"),
]


def german(text: str) -> str:
    """The German text for `text`, or `text` itself when the catalog has none."""
    if text in EXACT:
        return EXACT[text]
    match = re.fullmatch(r"(?P<base>.+?) \((?P<subject>[^()]+)\)", text)
    if match and match.group("base") in EXACT:  # "jq null guard (deploy.yml)"
        return f"{EXACT[match.group('base')]} ({match.group('subject')})"
    for pattern, render in PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return render(found)
    return text
