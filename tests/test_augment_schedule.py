"""Random shifts for augmentation and the cosine learning-rate schedule."""

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, optim
from tinygrad_cnn.data import ArrayDataset, DataLoader, RandomShift


def test_random_shift_moves_each_image_by_at_most_max_shift():
    images = np.zeros((50, 1, 12, 12), dtype=np.float32)
    images[:, 0, 5, 6] = 1.0  # one bright pixel per image
    tg.manual_seed(0)
    shifted, labels = RandomShift(2)(images, np.arange(50))
    assert shifted.shape == images.shape and shifted.dtype == np.float32
    ys, xs = np.nonzero(shifted[:, 0].reshape(50, -1) == 1.0)
    rows, cols = np.divmod(xs, 12)
    assert len(ys) == 50  # the pixel survives every shift
    assert np.abs(rows - 5).max() <= 2 and np.abs(cols - 6).max() <= 2
    assert len(set(zip(rows - 5, cols - 6))) > 10  # offsets really vary
    np.testing.assert_array_equal(labels, np.arange(50))


def test_random_shift_is_reproducible_and_zero_is_identity():
    images = np.random.default_rng(0).random((8, 1, 12, 12)).astype(np.float32)
    tg.manual_seed(5)
    a, _ = RandomShift(3)(images, None)
    tg.manual_seed(5)
    b, _ = RandomShift(3)(images, None)
    np.testing.assert_array_equal(a, b)
    assert RandomShift(0)(images, None)[0] is images
    with pytest.raises(ValueError, match="non-negative integer"):
        RandomShift(-1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomShift(1)(np.zeros((3, 10, 10)), None)


def test_random_shift_refuses_shifts_beyond_a_quarter_of_the_side():
    images = np.zeros((4, 1, 28, 28), dtype=np.float32)
    assert RandomShift(7)(images, None)[0].shape == images.shape  # a quarter of 28
    for shift in (8, 30, 1_000_000):  # 1,000,000 would have padded to 931 TiB
        with pytest.raises(ValueError) as info:
            RandomShift(shift)(images, None)
        assert str(info.value) == (
            f"RandomShift: max_shift={shift} is more than a quarter of the 28x28 images' "
            "shorter side; shifts that large move much of each image out of view (use at "
            "most 7)")
    with pytest.raises(ValueError, match="quarter of the 12x40 images' .* at most 3"):
        RandomShift(4)(np.zeros((2, 1, 12, 40), dtype=np.float32), None)


def test_loader_applies_the_transform_per_batch():
    data = ArrayDataset(np.ones((10, 1, 4, 4), dtype=np.float32), np.arange(10))
    loader = DataLoader(data, 4, transform=lambda x, y: (x * 2, y))
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert all((b[0].numpy() == 2).all() for b in batches)


def test_cosine_schedule_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours_p = Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([ours_p], lr=0.1, momentum=0.9)
    sched = optim.CosineAnnealingLR(opt, T_max=7, eta_min=0.001)
    theirs_p = torch.ones(3, requires_grad=True)
    topt = torch.optim.SGD([theirs_p], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=7, eta_min=0.001)
    for _ in range(8):  # steps 0..T_max; past T_max PyTorch's rate rises again, ours holds
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        sched.step()
        topt.step()  # torch warns when the scheduler steps before the optimizer
        tsched.step()


def test_cosine_schedule_endpoints_and_state_round_trip():
    p = Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([p], lr=0.01)
    sched = optim.CosineAnnealingLR(opt, T_max=4)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(5):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.01, 0.01 * (1 + np.cos(np.pi / 4)) / 2, 0.005,
                                     0.01 * (1 + np.cos(3 * np.pi / 4)) / 2, 0.0, 0.0],
                               atol=1e-15)
    state = sched.state_dict()
    other = optim.CosineAnnealingLR(optim.Adam([p], lr=0.01), T_max=4)
    other.load_state_dict(state)
    assert other.optimizer.param_groups[0]["lr"] == lrs[-1]
    with pytest.raises(ValueError, match="T_max must be a positive integer"):
        optim.CosineAnnealingLR(opt, T_max=0)
