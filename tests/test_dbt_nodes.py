"""Facts about one dbt node (meshkit.dbt.nodes) on plain manifest structs: access, group, meta,
owners, versions, labels and ISO times."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from meshkit.dbt.artifacts import Group, Node, NodeConfig
from meshkit.dbt.artifacts import Owner as DbtOwner
from meshkit.dbt.nodes import (
    access_of,
    exposure_owner,
    find_group,
    group_of,
    is_latest,
    label,
    meta_of,
    owner_of,
    parse_date,
    parse_time,
    version_key,
    version_text,
)


def model(name="orders", package="shop", **fields) -> Node:
    config = fields.pop("config", NodeConfig())
    return Node(unique_id=f"model.{package}.{name}", resource_type="model", package_name=package,
                name=name, config=config, **fields)


def group(name, package="shop", owner=None, description=None) -> Group:
    return Group(unique_id=f"group.{package}.{name}", name=name, package_name=package,
                 owner=owner or DbtOwner(), description=description)


# -- access, group, meta ---------------------------------------------------------------------
def test_access_is_protected_unless_set_on_the_node_or_its_config():
    assert access_of(model()) == "protected"
    assert access_of(model(access="public")) == "public"
    assert access_of(model(config=NodeConfig(access="private"))) == "private"
    assert access_of(model(access="public", config=NodeConfig(access="private"))) == "public"


def test_group_is_read_from_the_node_or_its_config():
    assert group_of(model()) is None
    assert group_of(model(group="core")) == "core"
    assert group_of(model(config=NodeConfig(group="finance"))) == "finance"


def test_config_meta_wins_over_the_properties_meta():
    node = model(meta={"owner": "a", "tier": 1}, config=NodeConfig(meta={"owner": "b"}))
    assert meta_of(node) == {"owner": "b", "tier": 1}
    meta_of(node)["tier"] = 2
    assert node.meta["tier"] == 1      # a copy, not the node's own dict


# -- owners ----------------------------------------------------------------------------------
def test_the_group_owner_comes_first_then_meta_owner():
    groups = {"group.shop.core": group("core", owner=DbtOwner("Core team", "core@x.io"))}
    owned = owner_of(model(group="core", meta={"owner": "someone"}), groups)
    assert (owned.name, owned.emails, owned.group, owned.source) == (
        "Core team", ("core@x.io",), "core", "group")
    by_meta = owner_of(model(config=NodeConfig(meta={"owner": ["Ann", "ann@x.io"]})), groups)
    assert (by_meta.name, by_meta.emails, by_meta.source) == ("Ann", ("ann@x.io",), "meta")


def test_a_group_with_an_empty_owner_names_no_one_but_keeps_the_group():
    groups = {"group.shop.core": group("core", description="Core models")}
    owned = owner_of(model(group="core"), groups)
    assert owned is not None and not owned.named and owned.group == "core"
    assert owned.group_description == "Core models"
    assert owner_of(model(group="core", meta={"owner": {"email": "c@x.io"}}), groups).emails == ("c@x.io",)
    assert owner_of(model(), groups) is None


def test_a_group_is_looked_up_in_the_nodes_own_package_first():
    groups = {"group.other.core": group("core", "other", DbtOwner("Other")),
              "group.shop.core": group("core", "shop", DbtOwner("Shop"))}
    assert find_group(model(group="core"), groups).package_name == "shop"
    assert find_group(model(group="core", package="third"), groups).name == "core"
    assert find_group(model(group="nope"), groups) is None


def test_meta_owner_text_is_an_email_with_an_at_sign_else_a_name():
    assert owner_of(model(meta={"owner": " ann@x.io "}), {}).emails == ("ann@x.io",)
    assert owner_of(model(meta={"owner": "Ann"}), {}).name == "Ann"
    assert owner_of(model(meta={"owner": "  "}), {}) is None
    assert owner_of(model(meta={"owner": []}), {}) is None


def test_an_exposure_owner_is_used_as_is():
    assert exposure_owner(DbtOwner("BI", ["a@x.io", "b@x.io"])).email == "a@x.io, b@x.io"
    assert exposure_owner(DbtOwner()) is None


# -- versions and labels ---------------------------------------------------------------------
def test_version_text_meets_ints_strings_and_whole_floats():
    assert version_text(2) == version_text("2") == version_text(2.0) == "2"
    assert version_text(1.5) == "1.5"
    assert version_text(None) is None and version_text("") is None


def test_labels_name_the_version_after_a_dot_v():
    assert label("orders") == "orders"
    assert label("orders", 2) == label("orders", 2.0) == "orders.v2"
    assert label("orders", "") == "orders"


def test_the_latest_version_is_compared_as_text():
    assert is_latest(model(version=2, latest_version="2"))
    assert not is_latest(model(version=1, latest_version=2))
    assert not is_latest(model())


def test_versions_sort_numerically_then_as_text():
    versions = ["10", 2, "beta", None, 1.5, "alpha"]
    assert sorted(versions, key=version_key) == [None, 1.5, 2, "10", "alpha", "beta"]


@settings(max_examples=100, derandomize=True)
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6))
def test_numeric_versions_order_as_dbt_orders_them(a, b):
    # dbt/contracts/graph/unparsed.py, UnparsedVersion.__lt__: float(a) < float(b)
    assert (version_key(a) < version_key(b)) == (float(a) < float(b))
    assert (version_key(str(a)) < version_key(b)) == (a < b)


# -- times -----------------------------------------------------------------------------------
def test_dbt_times_read_as_aware_utc():
    utc = timezone.utc
    assert parse_time("2026-11-23T09:28:53.505427Z") == datetime(2026, 11, 23, 9, 28, 53, 505427, utc)
    assert parse_time("2026-11-23T09:28:53") == datetime(2026, 11, 23, 9, 28, 53, tzinfo=utc)
    assert parse_time("2026-11-23T10:00:00+01:00") == datetime(2026, 11, 23, 9, tzinfo=utc)
    assert parse_time("2026-11-23T10:00:00+01:00").tzinfo == utc
    assert parse_time("2026-03-01") == datetime(2026, 3, 1, tzinfo=utc)
    assert parse_time(date(2026, 3, 1)) == datetime(2026, 3, 1, tzinfo=utc)
    assert parse_time(datetime(2026, 3, 1, 5)) == datetime(2026, 3, 1, 5, tzinfo=utc)


def test_times_that_are_no_time_read_as_none():
    for value in (None, "", "soon", "2026-13-45"):
        assert parse_time(value) is None


def test_more_digits_of_a_second_than_python_reads_keep_the_day():
    assert parse_time("2026-11-23 09:28:53.123456789 trailing") == datetime(
        2026, 11, 23, tzinfo=timezone.utc)


def test_a_deprecation_date_is_its_utc_calendar_day():
    assert parse_date("2026-03-01T23:30:00-02:00") == date(2026, 3, 2)
    assert parse_date(date(2026, 3, 1)) == date(2026, 3, 1)
    assert parse_date("never") is None


@settings(max_examples=200, derandomize=True)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))])))
def test_any_iso_time_round_trips_to_the_same_instant(moment):
    text = moment.isoformat().replace("+00:00", "Z")
    parsed = parse_time(text)
    assert parsed == moment and parsed.utcoffset() == timedelta(0)


def test_importing_nodes_does_not_import_dbt_core():
    code = "import sys, meshkit.dbt.nodes; print(any(m == 'dbt' or m.startswith('dbt.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
