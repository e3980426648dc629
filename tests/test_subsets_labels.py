import numpy as np
import pytest

from bayes_sgd.data.labels import binary_task, random_labels, relabel
from bayes_sgd.data.subsets import balanced_split, balanced_subset, random_subset


def test_random_subset_is_seeded_distinct_and_sorted():
    a = random_subset(1000, 100, np.random.default_rng(3))
    b = random_subset(1000, 100, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 100 and np.all(np.diff(a) > 0) and a.max() < 1000
    assert not np.array_equal(a, random_subset(1000, 100, np.random.default_rng(4)))
    with pytest.raises(ValueError, match="cannot draw 11"):
        random_subset(10, 11, np.random.default_rng(0))


def test_balanced_subset_and_split():
    labels = np.repeat(np.arange(3), 10)
    idx = balanced_subset(labels, [0, 2], 4, np.random.default_rng(0))
    assert np.bincount(labels[idx], minlength=3).tolist() == [4, 0, 4]
    kept, held = balanced_split(labels, 3, np.random.default_rng(0))
    assert np.bincount(labels[held]).tolist() == [3, 3, 3]
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(30))
    with pytest.raises(ValueError, match="class 1: asked for 11"):
        balanced_subset(labels, [1], 11, np.random.default_rng(0))


def test_random_labels_uniform():
    labels = random_labels(20000, 2, np.random.default_rng(0))
    assert set(np.unique(labels)) == {0, 1}
    assert abs(labels.mean() - 0.5) < 0.02  # 7 standard deviations of a fair coin


def test_relabel():
    np.testing.assert_array_equal(relabel(np.array([7, 3, 7]), [3, 7]), [1, 0, 1])
    with pytest.raises(ValueError, match="outside the classes"):
        relabel(np.array([1, 2]), [1, 3])


def test_binary_task_from_remaining_training_images():
    labels = np.random.default_rng(0).integers(0, 10, 3000)
    task = binary_task(labels, None, [0, 1], 50, None, seed=5)
    train, test = task[task.split == "train"], task[task.split == "test"]
    assert train.true_label.value_counts().tolist() == [50, 50]
    assert set(train["index"]).isdisjoint(test["index"])
    assert (test.source_split == "train").all()
    # all the remaining images of the rarer class, balanced
    rarer = min((labels == 0).sum(), (labels == 1).sum()) - 50
    assert test.true_label.value_counts().tolist() == [rarer, rarer]
    np.testing.assert_array_equal(relabel(labels[task["index"]], [0, 1]), task.true_label)
    again = binary_task(labels, None, [0, 1], 50, None, seed=5)
    assert again.equals(task)
    assert not binary_task(labels, None, [0, 1], 50, None, seed=6).equals(task)


def test_binary_task_from_test_split_and_errors():
    train_labels = np.repeat([0, 1, 2], 40)
    test_labels = np.repeat([0, 1, 2], 5)
    task = binary_task(train_labels, test_labels, [1, 2], 40, None, seed=0)
    test = task[task.split == "test"]
    assert (test.source_split == "test").all() and len(test) == 10
    np.testing.assert_array_equal(relabel(test_labels[test["index"]], [1, 2]), test.true_label)
    with pytest.raises(ValueError, match="test_per_class=6"):
        binary_task(train_labels, test_labels, [1, 2], 40, 6, seed=0)
    with pytest.raises(ValueError, match="two distinct classes"):
        binary_task(train_labels, None, [1, 1], 4, None, seed=0)
