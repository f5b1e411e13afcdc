"""Outside services, each behind a small interface with its offline default beside it."""
