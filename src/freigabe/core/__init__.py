"""Pure parts: plans, ledger chain, redaction, release rules. No I/O on targets here."""
