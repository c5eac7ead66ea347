"""Where data lives: SQLAlchemy models, the database, and the blob stores."""
