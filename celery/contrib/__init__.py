"""Optional extras: testing support, abortable tasks, the remote debugger, migration."""
