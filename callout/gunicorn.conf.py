"""gunicorn's configuration for Callout (docs/deploy.md): ``gunicorn -c callout/gunicorn.conf.py
callout.wsgi``. Command-line options given after it (--bind, --workers) take precedence."""

timeout = 30
graceful_timeout = 30
