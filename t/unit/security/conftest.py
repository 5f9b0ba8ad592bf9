"""Keys, certificates and a kombu registry restored after each test."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from kombu.serialization import registry

from .pki import Identity, make_identity


@pytest.fixture(scope='session')
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp('pki')


@pytest.fixture(scope='session')
def alice(pki_dir: Path) -> Identity:
    """A signer whose certificate is in the trusted store."""
    return make_identity(pki_dir / 'keys', 'alice')


@pytest.fixture(scope='session')
def bob(pki_dir: Path) -> Identity:
    """A second trusted signer."""
    return make_identity(pki_dir / 'keys', 'bob')


@pytest.fixture(scope='session')
def mallory(pki_dir: Path) -> Identity:
    """A signer whose certificate is NOT in the trusted store."""
    return make_identity(pki_dir / 'untrusted', 'mallory')


@pytest.fixture(scope='session')
def store_dir(pki_dir: Path, alice: Identity, bob: Identity) -> Path:
    """Directory of trusted certificates (alice's and bob's)."""
    store = pki_dir / 'trusted'
    store.mkdir(exist_ok=True)
    for ident in (alice, bob):
        (store / ident.cert_path.name).write_bytes(ident.cert_pem)
    return store


@pytest.fixture(autouse=True)
def restore_kombu_registry() -> Iterator[None]:
    """setup_security changes kombu's process-wide registry: put it back."""
    saved = (dict(registry._encoders), dict(registry._decoders),
             set(registry._disabled_content_types), dict(registry.type_to_name),
             dict(registry.name_to_type), registry._default_encode,
             registry._default_content_type, registry._default_content_encoding)
    yield
    (encoders, decoders, disabled, type_to_name, name_to_type,
     default_encode, default_type, default_encoding) = saved
    registry._encoders.clear()
    registry._encoders.update(encoders)
    registry._decoders.clear()
    registry._decoders.update(decoders)
    registry._disabled_content_types.clear()
    registry._disabled_content_types.update(disabled)
    registry.type_to_name.clear()
    registry.type_to_name.update(type_to_name)
    registry.name_to_type.clear()
    registry.name_to_type.update(name_to_type)
    registry._default_encode = default_encode
    registry._default_content_type = default_type
    registry._default_content_encoding = default_encoding
