from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from celery.exceptions import SecurityError
from celery.security.utils import get_digest_algorithm, reraise_errors


class test_get_digest_algorithm:

    @pytest.mark.parametrize('name,cls', [
        ('sha256', hashes.SHA256), ('SHA256', hashes.SHA256),
        ('sha1', hashes.SHA1), ('sha512', hashes.SHA512), ('sha3-256', hashes.SHA3_256),
    ])
    def test_known(self, name, cls):
        assert isinstance(get_digest_algorithm(name), cls)

    def test_default_is_sha256(self):
        assert isinstance(get_digest_algorithm(), hashes.SHA256)

    @pytest.mark.parametrize('name', ['nope', '', None, 'HashAlgorithm', 'blake2b'])
    def test_unknown(self, name):
        with pytest.raises(SecurityError):
            get_digest_algorithm(name)


class test_reraise_errors:

    def test_crypto_errors_by_default(self):
        with pytest.raises(SecurityError, match='bad: InvalidSignature') as info:
            with reraise_errors('bad: {0!r}'):
                raise InvalidSignature()
        assert isinstance(info.value.__cause__, InvalidSignature)

    def test_other_errors_pass_through(self):
        with pytest.raises(KeyError):
            with reraise_errors():
                raise KeyError('x')

    def test_named_errors(self):
        with pytest.raises(SecurityError, match="ValueError\\('v'\\)"):
            with reraise_errors(errors=(ValueError,)):
                raise ValueError('v')

    def test_security_error_kept(self):
        with pytest.raises(SecurityError, match='^orig$'):
            with reraise_errors('wrapped {0}', errors=(Exception,)):
                raise SecurityError('orig')

    def test_no_error(self):
        with reraise_errors():
            value = 1
        assert value == 1
