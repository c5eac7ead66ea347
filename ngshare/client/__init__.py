"""The one HTTP client of ngshare, under the nbgrader plugin and ``ngsharectl``.

Both programs talk to the server through this package and differ only in
what they do with it: ``ngshare.exchange`` turns its errors into nbgrader's
``ExchangeError``, ``ngshare.cli`` into exit codes. It imports neither
nbgrader nor anything of the server, only :mod:`ngshare.protocol`.

Modules, by concern:

- ``settings``: where the server is and which token to show it;
- ``connection``: sessions, timeouts, retries, streamed bodies;
- ``answers``: what an answer, or the lack of one, means (which error);
- ``errors``: the one hierarchy of failures (:class:`~.errors.ClientError`);
- ``identity``: who the token stands for, as the server says;
- ``progress``: progress callbacks, and a reporter that logs;
- ``api``: the own API's resources (courses, releases, submissions, feedback,
  the audit log, deleted items);
- ``manifests``, ``uploads``, ``downloads``: files as manifests plus blobs,
  sent and received in streamed, gzip-framed bodies.
"""
