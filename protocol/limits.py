"""Every size bound of the wire format, in one place.

Decoders enforce these before (or while) they look at a field, so hostile input
costs at most a bounded amount of memory and time. The byte budgets are set from
the libp2p GossipSub cap of 1 MiB per message (see ``shared/P2P.md``): a gossiped
signed record stays at a quarter of it, any other message at a half.
"""

from __future__ import annotations

# -- bytes -----------------------------------------------------------------------------
GOSSIP_CAP_BYTES = 1 << 20
"""The libp2p pubsub limit; larger messages are dropped silently by peers."""

MAX_SIGNED_PAYLOAD_BYTES = 256 * 1024
"""Canonical payload of one signed record (announcement or withdrawal)."""

ENVELOPE_OVERHEAD_BYTES = 135
"""Bytes a signed envelope adds around its payload (map, keys, key and signature)."""

MAX_ENVELOPE_BYTES = MAX_SIGNED_PAYLOAD_BYTES + ENVELOPE_OVERHEAD_BYTES
"""One signed envelope, as gossiped on the announce topic."""

ANNOUNCEMENT_TARGET_BYTES = 64 * 1024
"""Soft target for an announcement (what a node should aim for, not a refusal)."""

MAX_MESSAGE_BYTES = 512 * 1024
"""Any unsigned message (digest, sync, search, error) and any stream frame."""

# -- generic structure (checked on the raw msgpack value, before the schema) ---------------
MAX_DEPTH = 12
"""Nesting of maps and arrays (the top-level map is level 1; valid messages reach 7)."""

MAX_STRING_BYTES = 65_536
"""UTF-8 bytes of any one string (the longest field, a description, is 10,000 chars)."""

MAX_BINARY_BYTES = MAX_SIGNED_PAYLOAD_BYTES
"""Any one binary value (array data, an embedded signed payload)."""

MAX_LIST_ITEMS = 10_000
"""Items of any one array (the longest list, a spec's feature descriptions, is 10,000)."""

MAX_MAP_ITEMS = 64
"""Entries of any one map; every map of the format has a fixed, small set of keys."""

MAX_ARRAY_ELEMENTS = 65_536
"""Elements of one numeric array (e.g. K x d of a spec's points)."""

MAX_ARRAY_NDIM = 2
"""Dimensions of one numeric array."""

# -- fields --------------------------------------------------------------------------------
MAX_ORGANIZATION_CHARS = 200
MAX_URL_CHARS = 2_048
MAX_PACKAGE_URLS = 8
MAX_OWNER_ADDRS = 4
"""`addrs` of a summary (1.5): the owner's p2p multiaddrs."""
MAX_ADDR_CHARS = 120
"""One of them: the longest valid one, `/ip6/<39 chars>/tcp/65535/p2p/<52-char peer id>`,
has 111."""
MAX_STATISTICAL_SPECS = 4
MAX_PACKAGE_BYTES = 1 << 40
"""Declared package size: 1 TiB is far above any model, and still exact in a float."""

MAX_SEQUENCE = (1 << 63) - 1
MAX_TIMESTAMP_MS = 253_402_300_799_999
"""Milliseconds since the Unix epoch of 9999-12-31T23:59:59.999Z."""

MAX_K = 100
MAX_MIXTURE = 16
MAX_TTL = 8
MAX_VISITED = 64
MAX_DEADLINE_MS = 120_000
MAX_HITS = 100
MAX_MAPPED_COLUMNS = 10_000
"""Columns on either side of a search hit's column mapping (heterogeneous match): the
semantic spec's bound on features (the message's byte budget binds first)."""
MAX_COLUMN_NAME_CHARS = 200
"""A column name in a mapping: the semantic spec's bound on feature names."""
MAX_DIGEST_ENTRIES = 1_024
MAX_SYNC_WANTS = 1_024
MAX_SYNC_RECORDS = 512
MAX_CURSOR_BYTES = 256
MAX_ERROR_MESSAGE_CHARS = 1_000
MAX_ERROR_CODE_CHARS = 64
MAX_SKETCH_BYTES = 2_560
"""One encoded sketch map: its codes (at most 1,024 features, 2,048 bytes as float16)
plus the header (space of at most 200 characters, gamma, scale, dtype, version)."""
MAX_SPEC_IDS = 64
"""Content ids in one `spec_request`, and specs in one `spec_response` (1.3)."""
MAX_SPEC_TTL = 2
"""Hops a `spec_request` may still be forwarded for the ids a node lacks (to the owner
or its peers): enough to reach the owner through one relay."""
MAX_SPEC_BYTES = MAX_SIGNED_PAYLOAD_BYTES
"""One encoded spec (`encode_spec`) in a `spec_response`. A spec travels inside an
announcement's signed payload, so every spec an owner can announce is smaller (by
that announcement's other fields: a few hundred bytes even for a bare one); the
payload limit binds first. `encode_spec` itself can make up to 280,281 bytes (10,000 x 6 points),
specs no announcement can carry. A response holding one spec of this size still fits
`MAX_MESSAGE_BYTES`; it is also `MAX_BINARY_BYTES`, the bound of any one bin."""
