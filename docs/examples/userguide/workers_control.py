"""User guide, workers: inspecting and controlling running workers from Python."""
from workers_app import add, app

# [ping]
replies = app.control.ping(timeout=0.5)     # one {hostname: reply} per worker
print([reply for answer in replies for reply in answer.values()])
# -> [{'ok': 'pong'}]
# [end ping]

# [inspect]
inspector = app.control.inspect(timeout=0.5)
for hostname, names in inspector.registered().items():
    print(names)                            # -> ['workers_app.add']
for hostname, running in inspector.active().items():
    print(running)                          # -> []
# [end inspect]

# [rate-limit]
replies = app.control.rate_limit('workers_app.add', '10/m', reply=True, timeout=0.5)
print([reply for answer in replies for reply in answer.values()])
# -> [{'ok': 'new rate limit set successfully'}]
# [end rate-limit]

# [revoke]
later = add.apply_async((2, 2), countdown=300)
later.revoke()
for hostname, revoked in inspector.revoked().items():
    print(later.id in revoked)              # -> True
# [end revoke]
