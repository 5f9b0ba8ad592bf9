"""User guide, canvas: signatures and the workflow primitives."""
from celery import Celery, chain, chord, group, signature

app = Celery('proj', broker='memory://', backend='cache+memory://')


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y


@app.task
def tsum(numbers):
    return sum(numbers)


# [signature]
sig = add.s(2, 2)                    # the same as signature('proj.add', args=(2, 2))
print(sig)                           # -> proj.add(2, 2)
print(sig == signature('proj.add', args=(2, 2)))  # -> True
print(sig.delay().get(timeout=10))   # -> 4
# [end signature]

# [partial]
partial = add.s(2)                   # incomplete: one argument is still missing
print(partial.delay(8).get(timeout=10))  # -> 10
late = add.s(2, 2).set(countdown=1)  # options travel with the signature
print(late.options)                  # -> {'countdown': 1}
fixed = add.si(5, 5)                 # immutable: ignores the parent's result
# [end partial]

# [chain]
workflow = chain(add.s(2, 2), mul.s(10), add.s(1))   # ((2 + 2) * 10) + 1
print(workflow().get(timeout=10))    # -> 41
print((add.s(1, 1) | mul.s(3)).delay().get(timeout=10))  # -> 6
print((add.s(1, 1) | fixed).delay().get(timeout=10))     # -> 10
# [end chain]

# [group]
job = group(add.s(i, i) for i in range(5))
print(job.delay().get(timeout=10))   # -> [0, 2, 4, 6, 8]
# [end group]

# [chord]
callback = tsum.s()
header = [mul.s(i, i) for i in range(4)]
print(chord(header)(callback).get(timeout=10))   # -> 14
# [end chord]

# [map]
print(tsum.map([[1, 2], [3, 4]]).delay().get(timeout=10))         # -> [3, 7]
print(add.starmap([(1, 2), (3, 4)]).delay().get(timeout=10))      # -> [3, 7]
print(add.chunks(zip(range(6), range(6)), 3).delay().get(timeout=10))
# -> [[0, 2, 4], [6, 8, 10]]
# [end map]
