"""The kohya-format LoRA: written beside every diffusers LoRA file, and the same model.

diffusers' own kohya loader (what `load_lora_weights` runs on ``lora_unet_…`` keys, the
same key scheme ComfyUI and A1111/Forge read) must give the UNet exactly the output the
diffusers file gives it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from peft import LoraConfig
from safetensors import safe_open
from safetensors.torch import load_file

from engine.models.loading import load_pipeline
from engine.orders.lora_files import KOHYA_WEIGHTS, LORA_WEIGHTS, kohya_beside
from engine.training.checkpoints import save_checkpoint, save_lora
from engine.training.loop import LORA_TARGETS

RANK = 4


def fresh_pipeline(model: Path) -> StableDiffusionXLPipeline:
    return load_pipeline(str(model), None, dtype=torch.float32, device="cpu")


def lora_unet(model: Path, alpha: int) -> UNet2DConditionModel:
    """The tiny UNet with a LoRA whose up-projections are random, not peft's zeros: a LoRA
    that changes nothing would load "equal" from any file, right or wrong."""
    unet = fresh_pipeline(model).unet
    config = LoraConfig(
        r=RANK, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=LORA_TARGETS
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet.add_adapter(config)
        with torch.no_grad():
            for name, parameter in unet.named_parameters():
                if ".lora_B." in name:
                    parameter.copy_(torch.randn_like(parameter) * 0.1)
    return unet


def unet_output(unet: UNet2DConditionModel) -> torch.Tensor:
    """One UNet forward pass on fixed inputs shaped for the tiny SDXL."""
    generator = torch.Generator().manual_seed(7)
    latents = torch.randn(1, 4, 16, 16, generator=generator)
    text = torch.randn(1, 8, 64, generator=generator)  # both encoders side by side: 32 + 32
    pooled = torch.randn(1, 32, generator=generator)
    time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])
    with torch.no_grad():
        output = unet(
            latents,
            torch.tensor([500]),
            encoder_hidden_states=text,
            added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids},
        ).sample
    assert isinstance(output, torch.Tensor)
    return output


def loaded_output(model: Path, lora_file: Path) -> torch.Tensor:
    pipeline = fresh_pipeline(model)
    pipeline.load_lora_weights(str(lora_file))
    return unet_output(pipeline.unet)


# alpha == rank is how petbooth trains; alpha != rank shows the file's alpha is the config's.
@pytest.mark.parametrize("alpha", [RANK, 2 * RANK])
def test_kohya_file_loads_as_the_same_model(
    tiny_model_dir: Path, tmp_path: Path, alpha: int
) -> None:
    unet = lora_unet(tiny_model_dir, alpha)
    save_lora(tmp_path, unet)

    trained = unet_output(unet)
    from_diffusers = loaded_output(tiny_model_dir, tmp_path / LORA_WEIGHTS)
    from_kohya = loaded_output(tiny_model_dir, tmp_path / KOHYA_WEIGHTS)
    from_directory = loaded_output(tiny_model_dir, tmp_path)  # diffusers still picks its file

    without_lora = unet_output(fresh_pipeline(tiny_model_dir).unet)
    assert (trained - without_lora).abs().max() > 1e-2, "the LoRA must change the output"
    torch.testing.assert_close(from_diffusers, trained, rtol=1e-5, atol=1e-5)
    # The kohya file is fp16 (what /export hands over): its model is the trained one to
    # within half precision's rounding of the LoRA, a sliver of what the LoRA changes.
    effect = (from_diffusers - without_lora).abs().max()
    rounding = (from_kohya - from_diffusers).abs().max()
    assert rounding < 0.01 * effect
    torch.testing.assert_close(from_directory, from_diffusers, rtol=0, atol=0)


def test_kohya_keys_are_lora_unet_with_an_alpha_per_layer(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    unet = lora_unet(tiny_model_dir, RANK)
    save_lora(tmp_path, unet)

    kohya = load_file(tmp_path / KOHYA_WEIGHTS)
    diffusers_keys = load_file(tmp_path / LORA_WEIGHTS).keys()

    modules = {key.split(".", 1)[0] for key in kohya}
    assert all(m.startswith("lora_unet_") for m in modules)
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q" in modules
    assert "lora_unet_up_blocks_0_attentions_0_transformer_blocks_1_attn2_to_out_0" in modules
    assert len(modules) * 2 == len(diffusers_keys)  # one down and one up per layer
    assert set(kohya) == {
        f"{m}.{part}" for m in modules for part in ("lora_down.weight", "lora_up.weight", "alpha")
    }
    for module in modules:
        assert kohya[f"{module}.alpha"].ndim == 0
        assert kohya[f"{module}.alpha"].item() == RANK
        assert kohya[f"{module}.lora_down.weight"].shape[0] == RANK
        assert kohya[f"{module}.lora_up.weight"].shape[1] == RANK
        assert kohya[f"{module}.lora_down.weight"].dtype == torch.float16  # shared as fp16
    with safe_open(str(tmp_path / KOHYA_WEIGHTS), framework="pt") as handle:
        metadata = handle.metadata()
    # A1111 lists a LoRA under SDXL only when its metadata says so.
    assert metadata["ss_base_model_version"].startswith("sdxl_")
    assert metadata["ss_network_dim"] == str(RANK)


def test_every_checkpoint_has_its_kohya_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    unet = lora_unet(tiny_model_dir, RANK)

    step_dir = save_checkpoint(tmp_path, 100, unet, {}, {"loss": 0.5})

    assert kohya_beside(step_dir / LORA_WEIGHTS) == step_dir / KOHYA_WEIGHTS
    kohya = load_file(step_dir / KOHYA_WEIGHTS)
    assert len(kohya) == 3 * len(load_file(step_dir / LORA_WEIGHTS)) // 2
    assert not list(tmp_path.glob("checkpoints/.tmp-*")), "no temporary directory left behind"


def test_a_lora_without_a_kohya_file_has_none_beside_it(tmp_path: Path) -> None:
    (tmp_path / LORA_WEIGHTS).write_bytes(b"old")

    assert kohya_beside(tmp_path / LORA_WEIGHTS) is None
