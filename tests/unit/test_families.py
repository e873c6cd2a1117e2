"""The family registry (atelier/families.py) says what the builders, the exporters and the repository hold."""

from __future__ import annotations

import pytest

from atelier.config import REPO_ROOT
from atelier.families import FAMILIES, MODEL_PROFILES, PIPELINES, SERVED
from atelier.model_repository import configs
from export.diffusion import TorchNetworks
from models.diffusion import load_diffusers_pipeline


@pytest.mark.parametrize("kind", PIPELINES)
def test_a_pipeline_exports_the_networks_its_family_names(kind: str) -> None:
    assert sorted(TorchNetworks(kind, load_diffusers_pipeline(kind, "tiny")).modules) == sorted(FAMILIES[kind].networks)


@pytest.mark.parametrize("kind", PIPELINES)
def test_a_pipeline_family_has_its_loop_and_its_python_model(kind: str) -> None:
    from atelier.diffusion.pipelines import pipeline_class

    assert pipeline_class(kind).kind == kind
    model = (REPO_ROOT / "model_repository" / kind / "1" / "model.py").read_text()
    assert f"atelier/diffusion/pipelines/{kind}.py" in model and "PipelineModel" in model


def test_the_repository_holds_a_folder_for_every_model_a_default_family_serves_or_calls() -> None:
    committed = set(configs(REPO_ROOT / "model_repository"))
    named = {name for family in FAMILIES.values() if family.default for name in family.served + family.networks}
    assert committed == named


def test_every_profile_gives_every_pipeline_its_defaults() -> None:
    for profile in MODEL_PROFILES.values():
        assert set(profile.defaults) == set(PIPELINES), profile.name
        assert all({"steps", "guidance_scale"} <= set(values) for values in profile.defaults.values())
        assert max(profile.image_sides) <= profile.max_side
    assert SERVED == ("clip_text", "clip_image", "txt2img", "edit", "inpaint", "tryon")


def test_every_family_has_its_export() -> None:
    from export.families import EXPORTERS

    assert set(EXPORTERS) == set(FAMILIES)
