"""Call the first-steps tasks and read their results (a worker must be running)."""
# [call]
from tasks import add, mul

result = add.delay(4, 4)
print(result.id is not None)     # -> True
print(result.get(timeout=10))    # -> 8
print(result.successful())       # -> True
# [end call]

# [options]
product = mul.apply_async((6, 7), countdown=1)
print(product.get(timeout=10))   # -> 42
# [end options]

# [failure]
broken = add.delay(1, 'a')
try:
    broken.get(timeout=10)
except TypeError as exc:
    print('the task raised:', exc)
# -> the task raised: unsupported operand type(s) for +: 'int' and 'str'
print(broken.state)              # -> FAILURE
# [end failure]
