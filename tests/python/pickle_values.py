# The values test_pickle.cpp decodes and encodes, pickled by this Python.
#   pickle_values.py produce: one line per value: the hex of ForkingPickler.dumps(v) and of
#       pickle.dumps(v, 2), (v, 3), (v, 5), then the hex of repr(v)
#   pickle_values.py verify: reads "index hex" lines (ipckit's pickles of the values) and
#       prints "index ok|BAD same|shared|diff": whether pickle.loads gives the value back,
#       and whether the bytes are those ForkingPickler writes (shared: they cannot be, as
#       Python's pickle refers to an object met twice by its memo)
#   pickle_values.py opaque: pickles of objects of classes ipckit does not know
#   pickle_values.py plain: for each line of produce, four words: "plain" when that pickle
#       holds plain data only (no global, call, BUILD or memo reference), else "other"
import collections, pickle, pickletools, queue, sys
from multiprocessing.managers import Token
from multiprocessing.reduction import ForkingPickler


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


class Pair:
    __slots__ = ('a', 'b')

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __reduce__(self):
        return (Pair, (self.a, self.b))

    def __eq__(self, other):
        return type(other) is Pair and (self.a, self.b) == (other.a, other.b)


VALUES = [
    'None', 'True', 'False', '0', '1', '-1', '255', '256', '65535', '65536', '-65536',
    '2**31-1', '2**31', '-2**31', '-2**31-1', '2**63-1', '-2**63', '2**63', '-2**63-1',
    '2**64', '2**100', '-2**100', '10**50', '-(10**300)', '1.5', '-0.0', '1e300', '1e16',
    "float('inf')", "'abc'", "''", '"it\'s"', "'\\u00e9\\u20ac\\U0001f600'", "'x' * 300",
    "b''", "b'\\x00\\xff'", "b'y' * 300", "bytearray(b'ab')", 'bytearray()', '()', '(1,)',
    '(1, 2)', '(1, 2, 3)', '(1, 2, 3, 4)', '[]', '[1]', "[1, 'a']", 'list(range(2500))', '{}',
    "{1: 'one', 'two': 2}", '{i: str(i) for i in range(1500)}', "{(1, 2): 'tuple key'}",
    'set()', '{1}', 'frozenset()', "frozenset({'a'})", '[[[]]]', "KeyError('x')",
    'KeyError()', "IndexError('list index out of range')", "ValueError('a', 2)",
    "TypeError('t')", "AttributeError('no')", "RuntimeError('r')", 'StopIteration(3)',
    'queue.Empty()', 'queue.Full()', 'EOFError()',
    "Token('dict', ('127.0.0.1', 5000), '7f00')", "Token('list', '/tmp/sock', 'ab')",
    "{'nested': [1, (2, {3: None})], 'e': [KeyError(1)]}", "'x' * 70000", "b'z' * 70000",
    '{i: str(i) * 3 for i in range(10000)}', "[str(i) for i in range(30000)]",
    'set(range(1000))', 'set(range(2500))', 'frozenset(range(1000))', '{i: -i for i in range(1000)}',
]


def same(a, b):
    return type(a) is type(b) and (a == b or repr(a) == repr(b))


def main():
    mode = sys.argv[1]
    values = [eval(v) for v in VALUES]
    if mode == 'produce':
        for v in values:
            pickles = [bytes(ForkingPickler.dumps(v))] + [pickle.dumps(v, p) for p in (2, 3, 5)]
            print('\t'.join(p.hex() for p in pickles) + '\t' + repr(v).encode().hex())
    elif mode == 'verify':
        for line in sys.stdin:
            index, data = line.split()
            index, data = int(index), bytes.fromhex(data)
            v = values[index]
            try:
                ok = same(pickle.loads(data), v)
            except Exception as e:
                print(index, 'error', repr(e)[:200], file=sys.stderr)
                ok = False
            ref = bytes(ForkingPickler.dumps(v))
            # Python writes an object met twice once, then a memo reference (BINGET).
            shares = any(op.name.endswith('GET') for op, _, _ in pickletools.genops(ref))
            print(index, 'ok' if ok else 'BAD',
                  'same' if data == ref else 'shared' if shares else 'diff')
    elif mode == 'plain':
        calls = {'GLOBAL', 'STACK_GLOBAL', 'REDUCE', 'NEWOBJ', 'NEWOBJ_EX', 'BUILD', 'INST', 'OBJ'}
        for v in values:
            pickles = [bytes(ForkingPickler.dumps(v))] + [pickle.dumps(v, p) for p in (2, 3, 5)]
            words = []
            for data in pickles:
                names = {op.name for op, _, _ in pickletools.genops(data)}
                other = names & calls or any(name.endswith('GET') for name in names)
                words.append('other' if other else 'plain')
            print(' '.join(words))
    elif mode == 'opaque':
        import __main__
        __main__.Point, __main__.Pair = Point, Pair  # pickled as __main__.Point
        p = Point(1, 2)
        objects = [
            [Point(1, 2), Point(1, 2)],
            {'p': p, 'q': p},
            Pair(Point(3, 4), 'b'),
            collections.OrderedDict([('a', 1), ('b', [2])]),
            Point,
            collections.Counter('abca'),
        ]
        for o in objects:
            print(pickle.dumps(o, 4).hex())
    elif mode == 'opaque-verify':
        import __main__
        __main__.Point, __main__.Pair = Point, Pair
        p = Point(1, 2)
        expected = [
            [Point(1, 2), Point(1, 2)],
            {'p': p, 'q': p},
            Pair(Point(3, 4), 'b'),
            collections.OrderedDict([('a', 1), ('b', [2])]),
            Point,
            collections.Counter('abca'),
        ]
        for line in sys.stdin:
            index, data = line.split()
            got = pickle.loads(bytes.fromhex(data))
            print(index, 'ok' if got == expected[int(index)] and type(got) is type(expected[int(index)]) else 'BAD ' + repr(got))


main()
