"""Developer commands (run, train, eval, bench, transcripts); never imported by the bot."""
