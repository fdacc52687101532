"""Server-side validation of the registration form."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from portal.form.fields import FIELD_NAMES, validate_registration
from tests.support.form import VALID as FLOW_VALID

TODAY = dt.date(2026, 11, 28)
VALID = {**FLOW_VALID, "email": "Dian.0@Yahoo.co.id"}


def test_valid_form_is_cleaned() -> None:
    result = validate_registration(VALID, TODAY)
    assert result.ok, result.errors
    assert result.cleaned["telepon"] == "+6289574772415"
    assert result.cleaned["email"] == "dian.0@yahoo.co.id"
    assert result.warnings == {}


def test_every_required_field_has_an_indonesian_message() -> None:
    result = validate_registration({}, TODAY)
    assert set(result.errors) == set(FIELD_NAMES) - {"email", "nomor_thk2", "tmt_selesai"}
    assert all("wajib diisi" in message for message in result.errors.values())


def test_birth_date_differing_from_the_nik_warns_but_accepts() -> None:
    result = validate_registration({**VALID, "tanggal_lahir": "1985-11-09"}, TODAY)
    assert result.ok
    assert "1985-11-08" in result.warnings["tanggal_lahir"]


def test_people_born_after_2000_are_accepted() -> None:
    # 12-03-2004, male, regency 3601
    result = validate_registration({**VALID, "nik": "3601011203040001",
                                    "tanggal_lahir": "2004-03-12", "jenis_kelamin": "L",
                                    "tanggal_lulus": "2022-06-01", "tanggal_sk": "2023-01-02",
                                    "tmt_mulai": "2023-01-02"}, TODAY)
    assert result.ok, result.errors
    assert result.warnings == {}


def test_names_of_any_shape_are_accepted() -> None:
    for name in ["Ade", "Nur'aini", "H. M. Sjafrudin", "Raden Ajeng " + "Kartini " * 20, "Ñoño"]:
        result = validate_registration({**VALID, "nama": name}, TODAY)
        assert "nama" not in result.errors, name


def test_future_birth_date_and_garbage_dates_are_refused() -> None:
    assert "tanggal_lahir" in validate_registration(
        {**VALID, "tanggal_lahir": "2030-01-01"}, TODAY).errors
    assert "tanggal_lahir" in validate_registration(
        {**VALID, "tanggal_lahir": "31/12/1990"}, TODAY).errors


@given(st.dictionaries(st.sampled_from(FIELD_NAMES + ("other",)),
                       st.one_of(st.text(max_size=500), st.none(), st.integers())))
def test_no_input_crashes_validation(raw: dict[str, object]) -> None:
    result = validate_registration(raw, TODAY)
    assert set(result.values) == set(FIELD_NAMES)
    assert all(len(v) <= 1000 for v in result.values.values())


def test_dates_must_follow_a_working_life_in_order() -> None:
    result = validate_registration({**VALID, "tanggal_lulus": "1980-01-01",
                                    "tmt_mulai": "1979-01-01", "tmt_selesai": "1978-01-01"},
                                   TODAY)
    assert "sesudah tanggal lahir" in result.errors["tanggal_lulus"]
    assert "tmt_selesai" in result.errors


def test_choices_and_document_numbers_are_checked() -> None:
    result = validate_registration({**VALID, "pendidikan": "S9", "sumber_gaji": "DANA",
                                    "nomor_sk": "800<script>"}, TODAY)
    assert set(result.errors) == {"pendidikan", "sumber_gaji", "nomor_sk"}


def test_titles_and_a_sex_differing_from_the_nik_warn() -> None:
    result = validate_registration({**VALID, "nama": "Dian Suryana, S.Pd", "jenis_kelamin": "L"},
                                   TODAY)
    assert result.ok
    assert "gelar" in result.warnings["nama"]
    assert "jenis_kelamin" in result.warnings
