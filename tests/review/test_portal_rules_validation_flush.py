"""Review: the validation counters' flush (LicenseValidationDaily) wrote every tenant's
counts in one batch and, when the batch failed, put it all back for the next flush. A count
of a license deleted since its validation (an account or license removed by the operator,
cascading) failed the foreign key on every flush from then on: no tenant's validation
history was written again, and the counters only grew. The usage flush already drops the
counts of accounts that are gone; the validation flush now drops those of licenses that
are gone."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete

from quantumlock.licensing.models import License, LicenseValidationDaily
from tests.api.test_licenses_api import validate
from tests.conftest import MakeAccount
from tests.portal.test_licenses import make_license


def test_a_deleted_license_does_not_stop_every_tenants_validation_history(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    gone, kept = make_account(name="Gone Ltd"), make_account(name="Kept Ltd")
    gone_key = make_license(app, gone.id, "c-gone")
    kept_key = make_license(app, kept.id, "c-kept")
    assert validate(client, gone.admin_key, gone_key, "c-gone")["valid"]
    assert validate(client, kept.admin_key, kept_key, "c-kept")["valid"]
    with app.state.runtime.unit_of_work() as session:
        session.execute(delete(License).where(License.license_key == gone_key))
    licensing = app.state.licensing
    for _ in range(2):  # the flush after a failed one too
        with contextlib.suppress(Exception):  # the assertions below say what went wrong
            licensing.flush_validations()
    with app.state.runtime.unit_of_work() as session:
        kept_id = session.query(License.id).filter_by(license_key=kept_key).scalar()
        rows = session.query(LicenseValidationDaily).filter_by(license_id=kept_id).all()
        assert [r.count for r in rows] == [1]
    assert len(licensing.validations) == 0
