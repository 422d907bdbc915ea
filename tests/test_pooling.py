"""GeM, max and average pooling of the global and stripes heads (issue 24)."""

import math

import pytest
import torch

from reid_lightning.models.partitions import create_partition
from reid_lightning.models.pooling import POOLINGS, create_pooling


def test_gem_value_and_the_gradient_of_p_by_hand():
    # One channel, cells 1 and 2, p = 2: y = ((1 + 4) / 2)^(1/2); dy/dp = y (-ln(m) / p^2 + mean(x^p ln x) / (p m)).
    gem = create_pooling("gem", gem_p=2.0, gem_eps=1e-6)
    y = gem(torch.tensor([[[[1.0, 2.0]]]]), (1, 1))
    m = 2.5
    assert y.item() == pytest.approx(math.sqrt(m), rel=1e-6)
    y.sum().backward()
    expected = math.sqrt(m) * (-math.log(m) / 4 + (4 * math.log(2) / 2) / (2 * m))
    assert gem.p.grad.item() == pytest.approx(expected, rel=1e-5)  # 0.0762: p is learnt


def test_gem_spans_average_and_max():
    x = torch.rand(2, 3, 8, 4) + 0.1
    assert torch.allclose(create_pooling("gem", 1.0, 1e-6)(x, (1, 1)), create_pooling("avg", 3.0, 1e-6)(x, (1, 1)))
    average, maximum = x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    gem3 = create_pooling("gem", 3.0, 1e-6)(x, (1, 1))
    assert (average <= gem3).all() and (gem3 <= maximum).all()
    near_max = create_pooling("gem", 200.0, 1e-6)(x, (1, 1))  # >= max * (1/32)^(1/200) = 0.983 max
    assert torch.allclose(near_max, create_pooling("max", 3.0, 1e-6)(x, (1, 1)), rtol=0.02)


def test_global_and_stripes_heads_pool_by_name():
    x = torch.rand(2, 3, 6, 4)
    assert torch.equal(create_partition("global")(x), x.mean(dim=(2, 3)).unsqueeze(1))  # the default, unchanged
    assert torch.equal(create_partition("global", pooling="max")(x), x.amax(dim=(2, 3)).unsqueeze(1))
    gem = create_partition("stripes", num_stripes=3, pooling="gem", gem_p=3.0)
    bands = x.clamp(min=1e-6).pow(3).view(2, 3, 3, 2, 4).mean(dim=(3, 4)).pow(1 / 3).transpose(1, 2)  # (B, 3, C)
    assert torch.allclose(gem(x), bands, atol=1e-6)
    assert [n for n, _ in gem.named_parameters()] == ["pool.p"]


def test_pooling_names_and_options_are_checked():
    assert POOLINGS.names() == ["avg", "max", "gem"]
    with pytest.raises(ValueError, match="unknown partition.pooling='gen'.*close matches: gem"):
        create_partition("global", pooling="gen")
    with pytest.raises(ValueError, match="gem_p > 0"):
        create_partition("global", pooling="gem", gem_p=0.0)
