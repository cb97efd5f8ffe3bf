"""Image evidence (照片): checked, stripped of metadata, thumbnailed, stored and served signed.

A reusable capability, with no rule of any one kind of owner: the service-record glue
(``services.records.attachments``) decides who may add, see or remove a record's photos; a later
owner (residents' intake) brings its own. What lives here:

- ``images``: sniff the type from the bytes (JPEG, PNG, WebP), refuse oversized files and
  decompression bombs, read the capture time and GPS position, re-encode the pixels without any
  metadata, make the thumbnail. Pure: bytes in, bytes and facts out.
- ``storage``: the ``attachments`` storage of ``STORAGES`` (a local folder, or S3-compatible
  through django-storages), saving and deleting files, and the short-lived signed URLs.
- ``writes``: store processed images and insert their rows, withhold, purge.
- ``views``/``urls``: the signed view that serves local files (S3 serves its presigned URLs).

Rules and limits: docs/attachments.md.
"""
