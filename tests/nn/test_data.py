"""ag.data: DataLoader, transforms, built-in datasets, IDX files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from ag.data import (
    Compose,
    DataLoader,
    Dataset,
    Normalize,
    RandomCrop,
    RandomFlipHorizontal,
    TensorDataset,
    load_digits,
    load_mnist,
    make_moons,
    make_spirals,
    read_idx,
    sequence_task,
    write_idx,
)


class Squares(Dataset):
    """A Dataset without the fast batch path: sample i is (i, i*i)."""

    def __len__(self):
        return 11

    def __getitem__(self, i):
        return np.float64(i), i * i


@pytest.mark.parametrize("dataset", [TensorDataset(np.arange(11.0), np.arange(11) ** 2), Squares()])
@pytest.mark.parametrize("shuffle", [False, True])
def test_each_sample_once_per_epoch(dataset, shuffle):
    loader = DataLoader(dataset, batch_size=4, shuffle=shuffle, seed=0)
    assert len(loader) == 3
    epochs = []
    for _ in range(2):
        batches = list(loader)
        assert [len(b[0]) for b in batches] == [4, 4, 3]
        xs = np.concatenate([b[0] for b in batches])
        ys = np.concatenate([b[1] for b in batches])
        assert sorted(xs.tolist()) == list(range(11))  # every sample exactly once
        np.testing.assert_array_equal(ys, xs.astype(int) ** 2)  # fields stay paired
        epochs.append(xs.tolist())
    if shuffle:
        assert epochs[0] != epochs[1]  # a new order each epoch
        assert epochs[0] != list(range(11))
    else:
        assert epochs[0] == epochs[1] == list(range(11))


def test_shuffle_seed_repeats_and_drop_last():
    ds = TensorDataset(np.arange(10.0))
    a = [b[0].tolist() for b in DataLoader(ds, batch_size=3, shuffle=True, seed=5)]
    b = [b[0].tolist() for b in DataLoader(ds, batch_size=3, shuffle=True, seed=5)]
    assert a == b
    dropped = list(DataLoader(ds, batch_size=3, drop_last=True))
    assert len(dropped) == 3 and all(len(x[0]) == 3 for x in dropped)


def test_loader_transform_applies_to_inputs_only():
    ds = TensorDataset(np.ones((4, 2)), np.arange(4))
    xb, yb = next(iter(DataLoader(ds, batch_size=4, transform=lambda x: x * 3)))
    np.testing.assert_array_equal(xb, np.full((4, 2), 3.0))
    np.testing.assert_array_equal(yb, np.arange(4))
    ds = TensorDataset(np.ones((2, 2)), np.arange(2), transform=lambda x: -x)
    assert ds[0][0].tolist() == [-1.0, -1.0]


def test_bad_loader_input():
    with pytest.raises(ValueError, match="empty dataset"):
        DataLoader(TensorDataset(np.zeros((0, 3))))
    with pytest.raises(ValueError, match="fewer than batch_size=8"):
        DataLoader(TensorDataset(np.zeros((5, 3))), batch_size=8, drop_last=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros((5, 3))), batch_size=0)
    with pytest.raises(ValueError, match=r"differ in length: \[3, 2\]"):
        TensorDataset(np.zeros(3), np.zeros(2))


def test_normalize_per_channel_and_per_feature():
    image = np.stack([np.full((2, 2), 3.0), np.full((2, 2), 5.0)])
    out = Normalize([1.0, 1.0], [2.0, 4.0])(image)
    np.testing.assert_allclose(out[0], 1.0)
    np.testing.assert_allclose(out[1], 1.0)
    np.testing.assert_allclose(Normalize([1.0, 2.0], [1.0, 2.0])(np.array([2.0, 2.0])), [1.0, 0.0])
    with pytest.raises(ValueError, match="zero"):
        Normalize([0.0], [0.0])


def test_flip_and_compose():
    img = np.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(RandomFlipHorizontal(p=1.0)(img), img[..., ::-1])
    np.testing.assert_array_equal(RandomFlipHorizontal(p=0.0)(img), img)
    t = RandomFlipHorizontal(p=0.5, seed=1)
    share = np.mean([t(img)[0, 0, 0] == 2.0 for _ in range(400)])
    assert 0.4 < share < 0.6
    both = Compose([RandomFlipHorizontal(p=1.0), lambda x: x + 1])
    np.testing.assert_array_equal(both(img), img[..., ::-1] + 1)


def test_random_crop_with_padding():
    img = np.arange(1.0, 17.0).reshape(1, 4, 4)
    crop = RandomCrop(4, padding=2, seed=0)
    seen_offsets = set()
    for _ in range(100):
        out = crop(img)
        assert out.shape == (1, 4, 4)
        # every crop is a window of the zero-padded image
        padded = np.pad(img, [(0, 0), (2, 2), (2, 2)])
        hits = [
            (i, j) for i in range(5) for j in range(5) if np.array_equal(padded[:, i : i + 4, j : j + 4], out)
        ]
        assert hits
        seen_offsets.update(hits)
    assert len(seen_offsets) > 10  # the window really moves
    assert RandomCrop(4, padding=0)(img).tolist() == img.tolist()  # no room: the image itself
    with pytest.raises(ValueError, match="larger than"):
        RandomCrop(5)(img)


def test_moons_and_spirals():
    X, y = make_moons(101, noise=0.0, seed=0)
    assert X.shape == (101, 2) and set(y.tolist()) == {0, 1}
    upper = X[y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)  # on the unit half circle
    X, y = make_spirals(30, n_classes=4, seed=0)
    assert X.shape == (120, 2) and np.bincount(y).tolist() == [30] * 4


@pytest.mark.parametrize("kind", ["copy", "reverse", "sort"])
def test_sequence_tasks(kind):
    x, y = sequence_task(kind, 50, 6, vocab=7, seed=0)
    assert x.shape == y.shape == (50, 6) and x.max() < 7 and x.min() >= 0
    for a, b in zip(x, y):
        expected = {"copy": a, "reverse": a[::-1], "sort": np.sort(a)}[kind]
        np.testing.assert_array_equal(b, expected)
    with pytest.raises(ValueError, match="kind"):
        sequence_task("rotate", 2, 2)


def test_digits():
    pytest.importorskip("sklearn")
    X_train, y_train, X_test, y_test = load_digits(test_fraction=0.2, seed=0)
    assert X_train.shape[1] == 64 and len(X_train) + len(X_test) == 1797
    assert len(X_test) == round(1797 * 0.2)
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0
    assert set(y_test.tolist()) == set(range(10))


def _idx_bytes(code: int, array: np.ndarray, fmt: str) -> bytes:
    """An IDX file written by hand: magic 0 0 code ndim, big-endian sizes, data."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(fmt).tobytes()


def test_read_idx_hand_written_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "img").write_bytes(_idx_bytes(0x08, images, "u1"))
    np.testing.assert_array_equal(read_idx(tmp_path / "img"), images)
    values = np.array([1.5, -2.25], dtype=np.float64)
    (tmp_path / "f").write_bytes(_idx_bytes(0x0E, values, ">f8"))
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), values)
    with gzip.open(tmp_path / "img.gz", "wb") as f:
        f.write(_idx_bytes(0x08, images, "u1"))
    np.testing.assert_array_equal(read_idx(tmp_path / "img.gz"), images)
    write_idx(tmp_path / "again", images)
    assert (tmp_path / "again").read_bytes() == (tmp_path / "img").read_bytes()


def test_read_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(0x08, np.zeros(4, np.uint8), "u1")[:-1])
    with pytest.raises(ValueError, match=r"shape \(4,\) \(4 bytes\), file has 3"):
        read_idx(tmp_path / "short")


def test_load_mnist_from_small_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(0x08, images, "u1"))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(0x08, labels, "u1"))
    X, y = load_mnist(tmp_path, "test")
    assert X.shape == (5, 1, 28, 28) and X.dtype == np.float64
    np.testing.assert_allclose(X[2, 0], images[2] / 255.0)
    assert y.tolist() == [3, 1, 4, 1, 5]
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, "train")
