"""Knowledge distillation: the loss terms against hand-worked values, a student that reaches its teacher's
embedding on a toy problem, the frozen teacher kept out of the student's parameters and checkpoints, and
the config's checks."""

import math

import pytest
import torch
from torch import nn

from reid_lightning.models.distillation import (
    Distiller,
    embedding_distillation_loss,
    logit_distillation_loss,
    relational_distillation_loss,
    without_distiller,
)

TERMS = {"temperature": 4.0, "logit_weight": 0.0, "embedding_weight": 0.0, "relation_weight": 0.0, "part_weight": 0.0}


def test_logit_kl_at_temperature_by_hand():
    # teacher logits (ln 3, 0) at T=2: p = (sqrt3, 1) / (1 + sqrt3); student (0, 0): q = (1/2, 1/2)
    student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    p1 = math.sqrt(3) / (1 + math.sqrt(3))
    p2 = 1 - p1
    kl = p1 * math.log(p1 / 0.5) + p2 * math.log(p2 / 0.5)  # 0.03635
    assert logit_distillation_loss(student, teacher, 2.0).item() == pytest.approx(4 * kl, rel=1e-6)  # x T^2
    assert logit_distillation_loss(teacher, teacher, 2.0).item() == pytest.approx(0.0, abs=1e-7)
    # per-part logits (B, P, K) are averaged over parts first
    parts = torch.stack([teacher, teacher + 1.0], dim=1)  # (1, 2, 2): mean = teacher + 0.5, same softmax
    assert logit_distillation_loss(student, parts, 2.0).item() == pytest.approx(4 * kl, rel=1e-6)
    with pytest.raises(ValueError, match="logit_weight=0"):
        logit_distillation_loss(torch.zeros(1, 3), teacher, 2.0)


def test_relational_loss_on_three_samples_by_hand():
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # cosines: 0, 1/sqrt2, 1/sqrt2
    teacher = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])  # cosines: 1, 0, 0
    # differences off the diagonal: (0-1) twice, (1/sqrt2 - 0) four times -> (2 * 1 + 4 * 1/2) / 9 entries
    assert relational_distillation_loss(student, teacher).item() == pytest.approx(4 / 9, rel=1e-6)
    assert relational_distillation_loss(student, 5 * student).item() == pytest.approx(0.0, abs=1e-7)


def test_embedding_loss_is_two_minus_two_cosine():
    assert embedding_distillation_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])).item() == pytest.approx(
        2.0
    )
    assert embedding_distillation_loss(torch.tensor([[2.0, 2.0]]), torch.tensor([[1.0, 1.0]])).item() == pytest.approx(
        0.0, abs=1e-7
    )


class ToyTeacher(nn.Module):
    """forward(images, part_maps) -> logits and parts (B, 1, 8): a fixed rank-4 map of 6 inputs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.encode = nn.Sequential(nn.Linear(6, 4, bias=False), nn.Linear(4, 8, bias=False))

    def forward(self, images, part_maps=None):
        parts = self.encode(images)[:, None]  # (B, 1, 8)
        return {"parts": parts, "logits": parts[:, 0, :3]}


def test_student_reaches_the_teachers_embedding_through_a_projection(one_torch_thread):
    teacher = ToyTeacher()
    before = [p.clone() for p in teacher.parameters()]
    student = nn.Linear(6, 4)  # a narrower student: 4-d embedding, projected to the teacher's 8
    distiller = Distiller(teacher, 1, 4, **{**TERMS, "embedding_weight": 1.0}, teacher_parts=1, teacher_part_dim=8)
    assert isinstance(distiller.projection, nn.Linear) and distiller.projection.weight.shape == (8, 4)
    assert not any(name.startswith("_teacher") for name, _ in distiller.named_parameters())  # never optimised
    optimizer = torch.optim.Adam([*student.parameters(), *distiller.parameters()], lr=0.05)
    torch.manual_seed(0)
    for _ in range(150):
        x = torch.randn(32, 6)
        embedding = student(x)
        loss = distiller(None, embedding[:, None], embedding, x)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = torch.randn(256, 6)
    with torch.no_grad():
        cosine = torch.cosine_similarity(distiller.projection(student(x)), teacher(x)["parts"][:, 0])
    assert cosine.min() > 0.99  # the student (through its projection) gives the teacher's embedding
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters(), strict=True))  # frozen
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    assert set(distiller.state_dict()) == {"projection.weight"}  # the teacher stays out of checkpoints


def test_weights_sum_and_the_config_is_checked():
    teacher = ToyTeacher()
    x = torch.randn(5, 6)
    out = teacher(x)
    distiller = Distiller(
        teacher, 1, 8, **{**TERMS, "logit_weight": 0.5, "relation_weight": 2.0}, teacher_parts=1, teacher_part_dim=8
    )
    terms = distiller(out["logits"] + 1.0, out["parts"], out["parts"].flatten(1), x)
    assert set(terms) == {"logit", "relation", "total"}
    assert terms["relation"].item() == pytest.approx(0.0, abs=1e-6)  # the same embedding
    assert terms["total"].item() == pytest.approx(terms["logit"].item() + terms["relation"].item())
    assert isinstance(distiller.projection, nn.Identity)  # embedding term off: nothing learned
    with pytest.raises(ValueError, match="one > 0"):
        Distiller(teacher, 1, 8, **TERMS, teacher_parts=1, teacher_part_dim=8)
    with pytest.raises(ValueError, match="part_weight=0"):
        Distiller(teacher, 6, 8, **{**TERMS, "part_weight": 1.0}, teacher_parts=1, teacher_part_dim=8)


def test_part_distillation_matches_each_part():
    class PartTeacher(nn.Module):
        def forward(self, images, part_maps=None):
            return {"parts": images.view(len(images), 3, 2), "logits": images}

    distiller = Distiller(PartTeacher(), 3, 2, **{**TERMS, "part_weight": 1.0}, teacher_parts=3, teacher_part_dim=2)
    x = torch.randn(4, 6)
    same = distiller(None, x.view(4, 3, 2), x, x)
    assert same["part"].item() == pytest.approx(0.0, abs=1e-6)
    swapped = distiller(None, x.view(4, 3, 2).flip(1), x, x)  # parts in the wrong order are penalised
    assert swapped["part"].item() > 0.1


def test_a_student_checkpoint_loads_without_its_projections(one_torch_thread):
    from tests.test_deploy import tiny_model

    student = tiny_model()
    teacher = tiny_model(backbone={"name": "dcti"})
    from reid_lightning.models.distillation import build_distiller

    student.distiller = build_distiller(student, teacher, 4.0, 1.0, 1.0, 1.0, 0.0)
    state = student.state_dict()
    assert "distiller.projection.weight" in state and not any("_teacher" in k for k in state)
    plain = tiny_model()
    checkpoint = {"state_dict": dict(state)}
    plain.on_load_checkpoint(checkpoint)  # eval.py / deploy: a plain model
    plain.load_state_dict(checkpoint["state_dict"])  # strict: no distiller keys left
    assert set(without_distiller(state)) == set(plain.state_dict())
    images = torch.randn(4, 3, 64, 32)
    student.train()
    out = student(images)
    terms = student.distiller(
        out["logits"], out["parts"], student.classifier.normalized(out["parts"]).flatten(1), images
    )
    assert {"logit", "embedding", "relation", "total"} == set(terms) and torch.isfinite(terms["total"])


def write_job(sweep_dir, name: str, backbone: str, distill: str, seed: int, status: str = "finished"):
    """A sweep job folder as train.py leaves it: result.json and .hydra/overrides.yaml."""
    from reid_lightning.reporting.run_records import write_record

    job = sweep_dir / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- backbone={backbone}\n- distill={distill}\n- seed={seed}\n")
    write_record(job, status, {"backbone": backbone, "distill": distill}, best_checkpoint=f"{name}.ckpt")


def test_the_sweep_teacher_is_the_students_own_seed(tmp_path):
    from reid_lightning.run.frontier import sweep_teacher

    write_job(tmp_path, "0_backbone=resnet50,distill=default,seed=0", "resnet50", "default", 0)
    write_job(tmp_path, "1_backbone=resnet50,distill=default,seed=1", "resnet50", "default", 1)
    write_job(tmp_path, "2_backbone=resnet50,distill=default,seed=2", "resnet50", "default", 2, status="failed")
    write_job(tmp_path, "3_backbone=osnet,distill=default,seed=1", "osnet", "default", 1)
    write_job(tmp_path, "10_backbone=resnet50,distill=frontier,seed=1", "resnet50", "frontier", 1)
    assert sweep_teacher(tmp_path, "resnet50", seed=1) == "1_backbone=resnet50,distill=default,seed=1.ckpt"
    assert sweep_teacher(tmp_path, "resnet50") == "0_backbone=resnet50,distill=default,seed=0.ckpt"
    # seed 2's teacher failed: the first finished one stands in (and a warning says so)
    assert sweep_teacher(tmp_path, "resnet50", seed=2) == "0_backbone=resnet50,distill=default,seed=0.ckpt"
    with pytest.raises(ValueError, match="distill.teacher=sweep:dcti needs the finished backbone=dcti run"):
        sweep_teacher(tmp_path, "dcti", seed=0)
