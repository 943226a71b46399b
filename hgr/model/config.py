"""Model configuration: one dataclass, named presets (architectures as data, as in open_clip).

`official` reproduces the official release (bi-GRU, 1 graph layer, 2048/1024/300, spec section 1);
`paper` is the CVPR paper's variant (bi-LSTM, 2 graph layers); `demo` is the paper's architecture sized
for the embedded demo world (EfficientNet-Lite0 1280-d frames, GloVe 50-d words).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# PropBank roles, index = role id (official ROLES). Any other role maps to NOUN.
ROLES: tuple[str, ...] = (
    "V", "ARG1", "ARG0", "ARG2", "ARG3", "ARG4", "ARGM-LOC", "ARGM-MNR", "ARGM-TMP",
    "ARGM-DIR", "ARGM-ADV", "ARGM-PRP", "ARGM-PRD", "ARGM-COM", "ARGM-MOD", "NOUN",
)

VIDEO_ENCODERS = ("hierarchical", "shared", "spatiotemporal")

NEG_INF = -1e18  # the official masking constant: what a masked position gets before a softmax


@dataclass
class HGRConfig:
    # --- video side (Eq. 11) ---
    dim_fts: int = 2048            # frame feature size (ResNet-152: 2048, EfficientNet-Lite0: 1280)
    dim_embed: int = 1024          # joint space of every level; also the text RNN's hidden size
    video_dropout: float = 0.2
    video_encoder: str = "hierarchical"  # 'hierarchical' (paper, Eq. 11), 'shared' (one projection, ablation) or
    #                                      'spatiotemporal' (the paper's + a residual context of frame order and
    #                                      region tokens through one Transformer layer: beyond the paper)
    num_regions: int = 0           # grid cells per frame appended to each frame's vector (spatiotemporal only)
    # --- text side (Eq. 1-10) ---
    num_words: int = 10510         # vocabulary size, ids 0/1/2 = BOS/EOS/UNK
    dim_word: int = 300
    rnn_type: str = "gru"          # 'gru' (official) or 'lstm' (paper)
    text_dropout: float = 0.2      # on word embeddings
    num_roles: int = len(ROLES)
    gcn_layers: int = 1            # graph reasoning layers (official 1, paper 2)
    gcn_attention: bool = True     # False: mean over neighbours (ablation)
    role_aware: bool = True        # False: no role embedding on nodes (ablation, Eq. 6 removed)
    gcn_dropout: float = 0.5
    # --- inputs ---
    max_frames: int = 20
    max_words: int = 30
    num_verbs: int = 4
    num_nouns: int = 6
    # --- matching and loss (Eq. 12-14) ---
    matching: str = "hierarchical"  # 'hierarchical' (HGR) or 'global' (the VSE++ baseline: mean-pooled frames
    #                                 and words, one cosine; no graph, no local matching)
    sigma: float = 4.0             # inverse temperature of the frame softmax in local matching (lambda, Eq. 12)
    phrase_pooling: str = "mean"   # a caption's action / entity score from its phrases: 'mean' (official code) or
    #                                'sum' (the paper's text after Eq. 12: s_x = sum_i s_x,i)
    margin: float = 0.2            # contrastive margin (Delta, Eq. 14)
    same_video_negatives: bool = True  # Eq. 14 as the official VSE++ loss: another caption of the same video in a
    #                                    batch is a negative too; False leaves those pairs out (the demo preset)

    def __post_init__(self) -> None:
        if self.rnn_type not in ("gru", "lstm"):
            raise ValueError(f"rnn_type must be 'gru' or 'lstm', got {self.rnn_type!r}")
        if self.video_encoder not in VIDEO_ENCODERS:
            raise ValueError(f"video_encoder must be one of {VIDEO_ENCODERS}, got {self.video_encoder!r}")
        if self.matching not in ("hierarchical", "global"):
            raise ValueError(f"matching must be 'hierarchical' or 'global', got {self.matching!r}")
        if self.phrase_pooling not in ("mean", "sum"):
            raise ValueError(f"phrase_pooling must be 'mean' or 'sum', got {self.phrase_pooling!r}")
        if self.num_regions and self.video_encoder != "spatiotemporal":
            raise ValueError("num_regions is only used by the spatiotemporal video encoder")
        if self.gcn_layers < 0:
            raise ValueError(f"gcn_layers must be >= 0, got {self.gcn_layers}")

    @property
    def frame_dim(self) -> int:
        """Size of one frame's input vector: the global feature, then each region cell's."""
        return self.dim_fts * (1 + self.num_regions)

    @property
    def num_nodes(self) -> int:
        """Graph nodes: event + action slots + entity slots."""
        return 1 + self.num_verbs + self.num_nouns

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> HGRConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    def replace(self, **changes) -> HGRConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, HGRConfig] = {
    "official": HGRConfig(),
    "paper": HGRConfig(rnn_type="lstm", gcn_layers=2),
    # demo: 10-20 captions a clip make same-video pairs common in a batch; the shipped model and every row of the
    # README's demo tables were trained with them left out, so the preset says so
    "demo": HGRConfig(dim_fts=1280, dim_embed=384, dim_word=50, rnn_type="lstm", gcn_layers=2, num_words=0,
                      same_video_negatives=False),
}
# checkpoints saved before `same_video_negatives` existed were all trained with same-video pairs left out
LEGACY_DEFAULTS = {"same_video_negatives": False}

# Table 4's ablations, as overrides of the model being ablated.
ABLATIONS: dict[str, dict] = {
    "full": {},
    "no_graph_attention": {"gcn_attention": False},
    "no_role_awareness": {"role_aware": False},
    "no_hierarchical_video": {"video_encoder": "shared"},
    "spatiotemporal": {"video_encoder": "spatiotemporal", "num_regions": 2},
    "spatiotemporal_sum": {"video_encoder": "spatiotemporal", "num_regions": 2, "phrase_pooling": "sum"},
    "vsepp": {"matching": "global", "gcn_layers": 0, "video_encoder": "shared", "rnn_type": "gru"},
}


def preset(name: str, **overrides) -> HGRConfig:
    """A copy of a named preset with `overrides` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)
