"""Logical backups of the log database: dump to S3-compatible storage, verify, restore, prune.

`python -m logagg backup run|verify|restore|prune` (or `python -m logagg.backup ...`).
Layout in the bucket, under the configured prefix::

    <prefix>/<backup_id>.dump            pg_dump -Fc output, streamed (multipart upload)
    <prefix>/<backup_id>.manifest.json   written last: a backup without a manifest is incomplete

The backup id is the UTC start time, ``YYYYMMDDTHHMMSSZ``, so ids sort chronologically.
"""
