"""Heterogeneous Deep Graph Infomax (HDGI) user personas over a text-initialised knowledge graph.

One model a file, as in PyTorch Geometric: :mod:`.semantic_attention` (HAN's meta-path fusion),
:mod:`.encoder` (:class:`HDGIEncoder`), :mod:`.infomax` (:class:`HDGI`, the objective), :mod:`.neighbourhoods`
(meta-path neighbourhoods of user batches); the training loop :mod:`.train` (:func:`train_hdgi`, its state a
:class:`~.state.TrainState`), checkpoint and resume :mod:`.checkpoint`, and the inference wrapper
:mod:`.persona_model` (:class:`PersonaModel`). This docstring is the design and what was measured.

Design (Ren et al., "Heterogeneous Deep Graph Infomax", arXiv:1911.08538, built on HAN, Wang et al.
WWW'19, and DGI, Veličković et al. ICLR'19), adapted to the paper's setting (Sec. 4.1): items and
attributes carry text embeddings, users carry none and are randomly initialised.

**Inputs.** Every featured node type ``T`` (Item, Genre, Person…) has its text embeddings ``x_v``. A user's
*text view* is the mean text embedding of its training items (the non-parametric first aggregation
along ``U-I``); with ``user_init="random"`` a free, randomly initialised user embedding ``e_u`` (the
paper's user node) is added after projection: ``x'_u = W_U x̄_u + e_u``; other types: ``x'_v = W_T x_v``
(HAN's type-specific projections).

**Node-level attention per meta-path** (one PyG ``GATConv`` each, ``heads`` heads, ELU):

* heterogeneous paths ``U-…-T`` (``U-I``, ``U-I-Genre``) attend over the path's end nodes of type T —
  the user is described by the texts of the items and attributes it reaches;
* homogeneous paths ``U-…-U`` (``U-I-U``, ``U-I-Genre-I-U``, ``U-I-I-U``) attend over the user's
  meta-path neighbours (self-loop included) — HDGI's user–user graphs.

**Semantic-level attention** (HAN eq. 7–9): ``β_P = softmax_P(mean_u qᵀ tanh(W z_u^P + b))``, persona
``h_u = ELU(Σ_P β_P z_u^P)``.

**Objective.** The HDGI infomax (PyG ``DeepGraphInfomax``): readout ``s = σ(mean_u h_u)``, corruption
by row-shuffling every node type's features (user text views and free embeddings among users, items
among items, each attribute type among itself; the graph is kept), bilinear discriminator
``D(h, s) = σ(hᵀ W s)``, binary cross-entropy. Plus ``λ ·`` a text-view reconstruction term: a linear
decoder predicts ``x̄_u`` from ``h_u`` (MSE, normalised by ``mean x̄²``). Why: with feature shuffling a
corrupted user's neighbourhood averages to the global mean, so the infomax can be won by encoding
*how coherent* a neighbourhood is rather than *which* taste it has. On the demo graph
(``generate_demo(users=1000, items=600, tastes=8)``) plain HDGI (λ = 0) fell to k-means NMI 0.10–0.45
against the planted tastes within 20–40 epochs (seeds 0–2), while λ = 1 keeps 0.79–0.81 — the ceiling
the histories allow is about 0.815 (NMI of each user's most frequent planted item taste).

**Training** (Adam). Up to ``batch_users`` users, an epoch is one full-graph step. Above that, an epoch
is one step on a random batch of ``batch_users`` target users: the batch gathers only the edges into its
users (memory stays bounded) and the readout is the batch mean, as in PyG's large-graph DGI examples;
so ``epochs`` and ``patience`` bound the cost whatever the graph size. Early stopping follows the loss
(its moving average for batches) with a relative tolerance and keeps the best epoch's weights; fixed
seeds (explicit arguments; the caller's random state is left as it was); checkpoints that resume.

**Centring** (``train_hdgi(centre=True)``, the default). Uncentred, every persona was mostly one shared
vector: on ML-100K + DBpedia the mean persona had norm 0.35 against an RMS spread of 0.046 around it
(ratio 7.5), so random pairs of users had cosine 0.985 and the users nearest to anyone were those nearest
to the mean — the heaviest raters (cosine to the mean vs log #ratings r = +0.50; the 10 nearest users
rated 1.27× as much as the average user). The shared vector comes from the inputs — sentence embeddings
are anisotropic (users' text views already have mean pair cosine 0.92; the attribute texts of a type
share their ``"<Label>: "`` prefix) — and is kept and enlarged by the encoder's biases and by averaging over
meta-path neighbourhoods (``U-I-Genre`` reaches nearly every genre: ratio 111); nothing in the objective
removes it: the infomax is won at a loss of ≈ 0.001 by one direction of the bilinear discriminator, and the
decoder's bias reconstructs the mean text view. The final ELU is not the cause (half the entries are
negative; dropping it leaves the cosine at 0.987). Hence two steps:

1. the text features of each node type are centred on their mean before training (the random-feature
   ablation's unit vectors are left as they are), so the reconstruction target is the user-specific part
   of the text view: a ridge map from the personas explains 29–31% of its variance on ML-100K instead of
   21–25% (seeds 0–2). The free user embeddings start at ``FREE_EMB_SCALE`` = 0.5 of the former scale:
   the centred text input is smaller, and at the old scale an under-trained model's personas are mostly
   the random embedding that a session does not have (4 epochs on the 120-user test graph: the least faithful
   of ten sessions made of a user's own history at cosine 0.88 to that user, 0.97 at half scale). After full training the scale
   matters little, at a small cost on ML-100K (31–33% of the text view explained at scale 1; sessions'
   mean cosine to their user 0.965 vs 0.976);
2. after training, the encoder's ``offset`` buffer is set to the mean persona of the training users and
   subtracted from every output (:meth:`HDGIEncoder.output`): stored personas, :meth:`PersonaModel.embed_users`
   and inferred sessions alike. It is saved with the weights; model files without it load with a zero
   offset, i.e. the uncentred personas they stored.

No whitening and no removal of a principal component: on the demo graph full whitening drops the top-10
planted-taste precision from 0.90 to 0.78, and on ML-100K the first principal component (r = −0.45 with
log activity) also carries taste — removing it lowers the director lift of the 10 nearest users from 1.48
to 1.34. Downstream, SASRec centres user vectors itself (:func:`persona.rec._torch.standardise`), so the
offset changes nothing there. ``centre=False`` trains the earlier, uncentred model
(``bench/bench_persona_similarity.py`` compares the two).

**Inference.** :meth:`PersonaModel.infer_persona` embeds an anonymous session from its items alone: the
items become a temporary user (text view = mean of their features, free embedding 0) whose meta-path
edges are composed against the trained graph, and the frozen encoder runs with the training β and
subtracts the training users' mean (``offset``), like the stored personas.
"""

from __future__ import annotations

from .checkpoint import Checkpoint
from .encoder import FREE_EMB_SCALE, HDGIEncoder
from .infomax import HDGI
from .neighbourhoods import BATCH_USERS, Neighbourhoods, UserBatch, user_text_view
from .persona_model import PersonaModel
from .result import PersonaResult
from .semantic_attention import SemanticAttention
from .state import REL_TOL, TrainState
from .train import train_hdgi

__all__ = [
    "BATCH_USERS",
    "FREE_EMB_SCALE",
    "HDGI",
    "REL_TOL",
    "Checkpoint",
    "HDGIEncoder",
    "Neighbourhoods",
    "PersonaModel",
    "PersonaResult",
    "SemanticAttention",
    "TrainState",
    "UserBatch",
    "train_hdgi",
    "user_text_view",
]
