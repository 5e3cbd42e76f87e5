"""Masking formats of JR/T 0171-2020 industry practice: phone, ID number, card, names, money, dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kequn.security.masking import (
    mask_amount,
    mask_card,
    mask_date,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_row,
    mask_value,
)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("13812345678", "138****5678"), ("+8613812345678", "138****5678"), ("138-1234-5678", "138****5678"),
     ("12345", "*****")],
)
def test_phone_keeps_first_three_and_last_four(raw, masked):
    assert mask_phone(raw) == masked


def test_id_number_keeps_region_and_last_four():
    assert mask_id_number("110101199001011234") == "110101********1234"
    assert mask_id_number("43010219851231002X") == "430102********002X"


def test_card_keeps_bin_and_last_four():
    assert mask_card("6225881234561234") == "622588******1234"
    assert mask_card("6222 0212 3456 7890 123") == "622202*********0123"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("张三", "张*"), ("王小明", "王**"), ("欧阳娜娜", "欧阳**"), ("诸葛亮", "诸葛*"), ("司马相如", "司马**"),
     ("欧阳", "欧*"), ("Li Wei", "L* W**")],
)
def test_names_keep_the_surname_only(raw, masked):
    assert mask_name(raw) == masked


def test_money_becomes_a_range_never_the_figure():
    assert mask_amount(Decimal("12345.67")) == "1万–10万"
    assert mask_amount(Decimal("0")) == "0"
    assert mask_amount(Decimal("-2500")) == "-(0–1万)"
    assert mask_amount(Decimal("80000000")) == "≥3000万"


def test_dates_keep_the_year():
    assert mask_date(dt.date(1990, 5, 17)) == "1990-**-**"


def test_none_stays_none():
    for f in (mask_phone, mask_id_number, mask_card, mask_name, mask_amount, mask_date):
        assert f(None) is None


def test_mask_value_follows_the_data_model_pi_class():
    assert mask_value("customer.phone", "13812345678") == "138****5678"
    assert mask_value("customer.name", "欧阳娜娜") == "欧阳**"
    assert mask_value("card.card_number", "6225881234561234") == "622588******1234"
    assert mask_value("balance_monthly.balance", Decimal("523000.00")) == "50万–100万"
    assert mask_value("customer.birth_date", dt.date(1985, 1, 2)) == "1985-**-**"
    # C1 and non-personal columns pass through
    assert mask_value("customer.customer_id", "C001") == "C001"
    assert mask_value("customer.city", "长沙") == "长沙"
    # a tag declared C2 money
    assert mask_value("aum", Decimal("5000"), pi="C2", kind="money") == "0–1万"


def test_mask_row_masks_every_c2_column():
    row = {"customer_id": "C1", "name": "张三", "phone": "13812345678", "id_number": "110101199001011234",
           "city": "长沙"}
    assert mask_row("customer", row) == {"customer_id": "C1", "name": "张*", "phone": "138****5678",
                                         "id_number": "110101********1234", "city": "长沙"}
