"""The engine's one SDXL pipeline, loaded once and shared by training and generation.

Between jobs it rests with every weight frozen, the UNet in eval mode, the text encoders and
VAE on the device, and only the LoRA slot active. Training borrows it (`training()`), adds
its own adapter, parks the encoders if its memory plan says so, and gives it back clean.
Generation borrows it even in the middle of a training (`generate()`): it notes the
training's state (active adapter, the parameters that take gradients, train/eval mode,
where the encoders are parked), renders, and puts every bit of that state back, so the
training goes on as if nothing happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

from engine.generation.fused_lora import LoraFusion
from engine.generation.lora_slot import SLOT, LoraCache, LoraSlot, LoraSlots, SubjectLora
from engine.generation.render import Rendered, generation_scheduler, render_images
from engine.generation.request import GenerateRequest
from engine.generation.smaller import SAVERS, PictureOutOfMemory, drawing_smaller
from engine.models.loading import load_pipeline, resolve_device
from engine.models.sampling import never
from engine.settings import Settings, TrainingDefaults
from engine.training.loop import TRAINING_ADAPTER
from engine.training.precision import resolve_precision

log = logging.getLogger(__name__)


@dataclass
class _Borrowed:
    """What a generation must put back: the training's view of the shared pipeline."""

    active: list[str]
    trainable: list[torch.nn.Parameter]
    unet_training: bool
    homes: dict[torch.nn.Module, torch.device]


class ResidentPipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = resolve_precision(settings.training, self.device).weight_dtype
        self.cache = LoraCache(settings.generation.lora_cache_size)
        self._pipeline: StableDiffusionXLPipeline | None = None
        self._slots: LoraSlots | None = None
        self._fusion: LoraFusion | None = None  # generation.fuse_lora
        self._unet_for_sampling: Any = None  # torch.compile's wrapper of the same UNet
        self._scheduler: DPMSolverMultistepScheduler | None = None

    @property
    def pipeline(self) -> StableDiffusionXLPipeline:
        """The pipeline, loaded on first use (seconds to a minute for SDXL; once per process)."""
        if self._pipeline is None:
            self._load()
        assert self._pipeline is not None
        return self._pipeline

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    @property
    def slots(self) -> LoraSlots:
        self.pipeline  # noqa: B018  (loads it)
        assert self._slots is not None
        return self._slots

    @property
    def fusing(self) -> bool:
        """Whether a pet's picture now draws with its LoRA added into the UNet's weights
        (`generation.fuse_lora`, at rest) rather than beside them."""
        return self._fusion is not None and self._fusion.held

    @property
    def slot(self) -> LoraSlot:
        """The first pet's slot (the only one a one-pet picture uses)."""
        return self.slots.first

    def _load(self) -> None:
        settings = self.settings
        log.info("loading the resident pipeline %s (%s)", settings.base_model, self.dtype)
        pipeline = load_pipeline(
            settings.base_model, settings.vae or None, dtype=self.dtype, device=self.device
        )
        for model in _models(pipeline):
            model.requires_grad_(False)
        self._slots = LoraSlots(pipeline.unet, settings.generation.lora_slot_rank)
        _freeze(pipeline.unet)
        if settings.generation.fuse_lora:
            self._fusion = LoraFusion(pipeline.unet)
            self._fusion.hold()
        if _channels_last(settings.generation.channels_last, self.device):
            # Sampling is 22 % faster so (BENCHMARKS.md). Trainings borrow this same UNet and
            # keep its format: converting at every borrow would cost a copy of every conv
            # weight per picture served mid-training. Attention already runs on SDPA:
            # diffusers gives every UNet and VAE attention AttnProcessor2_0 (checked on
            # diffusers 0.42), so there is nothing to switch on for it.
            pipeline.unet.to(memory_format=torch.channels_last)
        self._scheduler = generation_scheduler(pipeline)
        if settings.generation.compile:
            # Swaps copy into the slots in place and their scalings are tensors: no recompile.
            # Switching between one and two active slots changes what dynamo guards on (the
            # layers' active adapters), so the first two-pet picture compiles a second graph,
            # once; later switches and swaps reuse whichever of the two graphs fits (checked
            # on the tiny UNet with dynamo's eager backend, error_on_recompile, over 1- and
            # 2-pet pictures alternating; not kept in the suite: the second trace costs 13 s
            # there, for a setting that is off by default).
            self._unet_for_sampling = torch.compile(pipeline.unet)
        self._pipeline = pipeline

    def fits(self, config: TrainingDefaults) -> bool:
        """Whether a training with `config` can run on this pipeline (same weight dtype)."""
        return resolve_precision(config, self.device).weight_dtype == self.dtype

    @contextmanager
    def training(self) -> Iterator[StableDiffusionXLPipeline]:
        """Lend the pipeline to `train_lora`; on the way back remove the training adapter."""
        pipeline = self.pipeline
        self.slot.clear()  # class images must be the base model's: the empty slot adds zero
        if self._fusion is not None:
            self._fusion.release()  # the training's memory plan counts on what rests here
        try:
            yield pipeline
        finally:
            self._clean_after_training(pipeline)
            if self._fusion is not None:
                self._fusion.hold()

    def _clean_after_training(self, pipeline: StableDiffusionXLPipeline) -> None:
        unet = pipeline.unet
        unet.enable_adapters()
        unet.set_adapter(SLOT)  # first, so that deleting the training adapter deletes no active one
        if TRAINING_ADAPTER in getattr(unet, "peft_config", {}):
            unet.delete_adapters(TRAINING_ADAPTER)
        if unet.is_gradient_checkpointing:
            unet.disable_gradient_checkpointing()
        unet.eval()
        _freeze(unet)
        pipeline.vae.disable_tiling()  # a small memory plan tiles; /imagine draws whole
        for model in (pipeline.text_encoder, pipeline.text_encoder_2, pipeline.vae):
            model.to(self.device)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # the optimizer's and activations' blocks

    def generate(
        self,
        request: GenerateRequest,
        after_image: Callable[[int], None] = lambda index: None,
        should_stop: Callable[[], bool] = never,
    ) -> Rendered:
        """Render `request` with its subject's LoRA swapped into the slot (and a second pet's
        into the second slot; or none at all), whether the pipeline is resting or lent to a
        training that is between two steps.
        Raises StopRequested within one denoising step of `should_stop()` turning true."""
        pipeline = self.pipeline
        lora = self.cache.get(request.lora) if request.lora is not None else None
        second = self.cache.get(request.second_lora) if request.second_lora is not None else None
        if lora is not None and self.fusing:
            try:  # the first saver, should it run out: the fused copy itself
                return self._drawn(pipeline, request, lora, second, after_image, should_stop)
            except torch.OutOfMemoryError:
                pass  # drop the copy outside the handler: its traceback holds the tensors
            self._stop_fusing()
        return self._drawn(pipeline, request, lora, second, after_image, should_stop, True)

    def _drawn(
        self,
        pipeline: StableDiffusionXLPipeline,
        request: GenerateRequest,
        lora: SubjectLora | None,
        second: SubjectLora | None,
        after_image: Callable[[int], None],
        should_stop: Callable[[], bool],
        smaller: bool = False,
    ) -> Rendered:
        """The picture with the pets as `_pets` puts them; `smaller`: out of GPU memory, drawn
        again the smaller way (`_drawn_within_memory`)."""
        with self._borrowed(pipeline) as unet, self._pets(unet, lora, second, request.lora_scale):
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                if smaller:
                    return self._drawn_within_memory(pipeline, request, after_image, should_stop)
                return self._render(pipeline, request, after_image, should_stop)

    def _stop_fusing(self) -> None:
        """Out of GPU memory drawing fused: free the copy (1.9 GB for SDXL) and draw with the
        slots beside the weights, the same picture, until a training ends and takes the
        copy again (when it fits)."""
        assert self._fusion is not None
        self._fusion.release()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        log.warning(
            "out of GPU memory drawing with the LoRAs fused: generation.fuse_lora's copy is "
            "freed and pictures draw with the LoRAs beside the weights until the next "
            "training ends"
        )

    @contextmanager
    def _pets(
        self,
        unet: UNet2DConditionModel,
        lora: SubjectLora | None,
        second: SubjectLora | None,
        scale: float,
    ) -> Iterator[None]:
        """The UNet as the picture needs it: plain SDXL, or the pets' LoRAs in the slots,
        and (`generation.fuse_lora`, at rest) added into the weights for the drawing."""
        if lora is None:
            unet.disable_adapters()  # plain SDXL
            yield
            return
        with self._active(unet, self.slots.load(lora, second, scale)):
            yield

    @contextmanager
    def _active(self, unet: UNet2DConditionModel, adapters: list[str]) -> Iterator[None]:
        """`adapters` (slots already loaded) drawn beside the weights, or fused into them."""
        if not self.fusing:
            unet.set_adapter(adapters)
            yield
            return
        assert self._fusion is not None
        with self._fusion.fused(adapters):
            yield

    def warm_up(self) -> None:
        """Load the pipeline. With `generation.compile`, also draw one throwaway 2-step
        picture at the default size the way a pet's picture is drawn (its slot active, or
        fused), so torch.compile builds that graph (115 s for SDXL on an H200) before
        anyone waits for it; another size or two pets still compile their own once."""
        pipeline = self.pipeline
        if self._unet_for_sampling is None:
            return
        size = self.settings.generation.resolution
        request = GenerateRequest(
            prompt="a photo of a cat",
            negative_prompt="",
            count=1,
            seed=0,
            steps=2,  # the graph is the same at every step
            guidance_scale=self.settings.generation.guidance_scale,
            width=size,
            height=size,
            lora=None,
            subject=None,
        )
        devices = [self.device] if self.device.type == "cuda" else []
        with (
            self._borrowed(pipeline) as unet,
            self._active(unet, [SLOT]),
            torch.random.fork_rng(devices=devices),
            torch.no_grad(),
        ):
            self._render(pipeline, request, lambda index: None, never)

    def _drawn_within_memory(
        self,
        pipeline: StableDiffusionXLPipeline,
        request: GenerateRequest,
        after_image: Callable[[int], None],
        should_stop: Callable[[], bool],
    ) -> Rendered:
        """`_render`; out of GPU memory, the same picture (same seeds) drawn again the
        smaller way (engine/generation/smaller.py), whose savers are undone afterwards;
        PictureOutOfMemory when that runs out too."""
        try:
            return self._render(pipeline, request, after_image, should_stop)
        except torch.OutOfMemoryError:
            pass  # draw again outside the handler: its traceback holds the drawing's tensors
        log.warning(
            "out of GPU memory drawing %d picture(s) of %dx%d px%s; drawing again with %s",
            request.count,
            request.width,
            request.height,
            " (from a picture)" if request.source_image is not None else "",
            SAVERS,
        )
        with drawing_smaller(pipeline, self.device) as park_encoders:
            try:
                return self._render(pipeline, request, after_image, should_stop, park_encoders)
            except torch.OutOfMemoryError:
                pass  # raise outside the handler: its traceback holds the drawing's tensors
        raise PictureOutOfMemory()

    def _render(
        self,
        pipeline: StableDiffusionXLPipeline,
        request: GenerateRequest,
        after_image: Callable[[int], None],
        should_stop: Callable[[], bool],
        after_prompt: Callable[[], None] = lambda: None,
    ) -> Rendered:
        chunks = self.settings.generation.max_prompt_chunks
        assert self._scheduler is not None
        scheduler, device = self._scheduler, self.device
        if self._unet_for_sampling is None:
            return render_images(
                pipeline, scheduler, request, chunks, device, after_image, should_stop, after_prompt
            )
        eager = pipeline.unet
        pipeline.unet = self._unet_for_sampling  # same parameters, compiled forward
        try:
            return render_images(
                pipeline, scheduler, request, chunks, device, after_image, should_stop, after_prompt
            )
        finally:
            pipeline.unet = eager

    @contextmanager
    def _borrowed(self, pipeline: StableDiffusionXLPipeline) -> Iterator[UNet2DConditionModel]:
        unet = pipeline.unet
        homes = {
            m: _device_of(m) for m in (pipeline.text_encoder, pipeline.text_encoder_2, pipeline.vae)
        }
        state = _Borrowed(
            active=list(unet.active_adapters()),
            trainable=[p for p in unet.parameters() if p.requires_grad],
            unet_training=unet.training,
            homes=homes,
        )
        try:  # out of memory bringing the encoders back, the training still gets all back
            unet.eval()
            for model in homes:
                model.to(self.device)  # parked on the CPU by a training: back for a moment
            yield unet
        finally:
            self._give_back(unet, state)

    def _give_back(self, unet: UNet2DConditionModel, state: _Borrowed) -> None:
        unet.enable_adapters()
        unet.set_adapter(state.active)
        # peft's set_adapter and enable_adapters switch requires_grad on whole adapters;
        # the training's optimizer holds exactly `trainable`, so that set is restored.
        _freeze(unet)
        for parameter in state.trainable:
            parameter.requires_grad_(True)
        unet.train(state.unet_training)
        for model, home in state.homes.items():
            model.to(home)


def _channels_last(setting: str, device: torch.device) -> bool:
    return device.type == "cuda" if setting == "auto" else setting == "on"


def _models(pipeline: StableDiffusionXLPipeline) -> list[torch.nn.Module]:
    return [pipeline.unet, pipeline.vae, pipeline.text_encoder, pipeline.text_encoder_2]


def _freeze(model: torch.nn.Module) -> None:
    model.requires_grad_(False)


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
