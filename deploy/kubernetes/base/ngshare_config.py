# ngshare's configuration in the cluster (mounted at /etc/ngshare/ngshare_config.py).
# Every option: `ngshare --help-all`. The database URL and the cookie secret
# come from the environment (a Secret), never from this file.
c = get_config()  # noqa: F821

# Users with full rights over every course (besides the hub's admins).
c.NgshareApp.admin_users = {"root"}

# Where the embedded defaults live; the sqlite overlay mounts its volume here.
c.NgshareApp.data_dir = "/srv/ngshare"
