"""Repositories: every SQL statement of the service lives in this package.

Functions take an open psycopg 3 (sync) ``Connection``; callers own transactions and pooling.
"""
