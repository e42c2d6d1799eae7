"""The wire format of the learnware dock network: the only code that knows the bytes.

=====================  ==========================================================
module                 holds
=====================  ==========================================================
``messages.py``        the typed messages (frozen dataclasses), `SignedEnvelope`
``codec.py``           `encode_message` / `decode_message`, envelope bytes, paging
``signing.py``         `Identity` (Ed25519 key, node id), `verify`, `verify_hit`
``sync.py``            replay rule, digests, anti-entropy helpers
``content.py``         content ids ``sha256:<hex>``, streaming `file_content_id`
``sketch.py``          a spec sketch's wire map: `encode_sketch` / `decode_sketch`
``summary.py``         compact announcements: `summary_of`, specs by id in responses
``versions.py``        schema version, protocol ids ``/lwdock/<name>/<x.y.z>``
``limits.py``          every size bound, as named constants
``framing.py``         length-prefixed frames for request/response streams
``wire.py``            canonical msgpack and numeric arrays (the byte layer)
``validate.py``        field checks shared by messages and decoders
``node_id.py``         node id derivation from a public key
``errors.py``          `ProtocolError` (a `ValueError`), `SignatureError`, ...
=====================  ==========================================================

Imports msgpack, cryptography and the engine's specifications; never `lwnode`,
aiohttp or libp2p. The wire format is specified in ``docs/protocol.md``.
"""
