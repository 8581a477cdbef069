"""maestream: read a mae-stream(5) with plain msgpack and numpy, for the shell tests.

Needs nothing of maepipe: that is the point of these tests (tests/lib.sh puts this folder on
PYTHONPATH)."""
import msgpack
import numpy as np

DTYPES = {'U8': np.uint8, 'I8': np.int8, 'U16': '<u2', 'I16': '<i2', 'U32': '<u4', 'I32': '<i4',
          'U64': '<u8', 'I64': '<i8', 'F32': '<f4', 'F64': '<f8', 'BOOL': np.uint8}


def records(path):
    """Every record of the stream in the file, header first, end-of-stream last."""
    with open(path, 'rb') as f:
        return list(msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31))


def tensor(t):
    """A tensor map {dtype, shape, data} as a numpy array."""
    return np.frombuffer(t['data'], dtype=DTYPES[t['dtype']]).reshape(t['shape'])


def cat(path, name):
    """Tensor `name` of every batch record, concatenated along the batch dimension."""
    return np.concatenate([tensor(r['tensors'][name]) for r in records(path)[1:-1]])
