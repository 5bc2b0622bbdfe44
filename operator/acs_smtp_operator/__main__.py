from acs_smtp_operator.cli import app

app()
