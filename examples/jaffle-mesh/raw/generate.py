#!/usr/bin/env python3
"""Generate the raw Jaffle Shop / Stripe seed files for the jaffle-mesh example.

Deterministic: a fixed-seed ``random.Random`` and nothing else, so running this
twice writes byte-identical CSVs. Standard library only.

    python generate.py            # writes seeds/ next to this file
    python generate.py --out DIR  # writes DIR/jaffle_shop/*.csv and DIR/stripe/*.csv

Invariants the downstream projects rely on:
  * every order's user_id is an existing customer id;
  * every payment's orderid is an existing order id;
  * some orders have two payments, a few have none;
  * all four payment methods occur.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

SEED = 20180101

N_CUSTOMERS = 100
N_ORDERS = 100
N_ORDERS_WITHOUT_PAYMENT = 4
N_ORDERS_WITH_TWO_PAYMENTS = 24  # -> 96 + 24 = 120 payments

FIRST_DAY = dt.date(2018, 1, 1)
LAST_DAY = dt.date(2018, 4, 30)

FIRST_NAMES = [
    "Aaron", "Adam", "Alan", "Albert", "Alice", "Amanda", "Amy", "Andrea",
    "Andrew", "Angela", "Ann", "Anna", "Anthony", "Arthur", "Barbara", "Benjamin",
    "Betty", "Bonnie", "Brandon", "Brenda", "Carl", "Carol", "Catherine", "Charles",
    "Cheryl", "Christina", "Christopher", "Clarence", "Craig", "Daniel", "David",
    "Deborah", "Denise", "Diana", "Donald", "Doris", "Douglas", "Edward", "Elizabeth",
    "Emily", "Eric", "Evelyn", "Frances", "Frank", "Gary", "George", "Gerald",
    "Gloria", "Harold", "Harry", "Heather", "Helen", "Henry", "Howard", "Jack",
    "Jacqueline", "James", "Jane", "Janet", "Jason", "Jeffrey", "Jennifer", "Jeremy",
    "Jesse", "Jimmy", "Joan", "Joe", "John", "Jonathan", "Joseph", "Joshua", "Judy",
    "Julia", "Julie", "Justin", "Karen", "Kathleen", "Kathy", "Keith", "Kelly",
    "Kenneth", "Kevin", "Kimberly", "Larry", "Laura", "Lawrence", "Lillian", "Linda",
    "Lisa", "Lois", "Lori", "Louis", "Margaret", "Maria", "Marie", "Mark", "Martha",
    "Martin", "Mary", "Matthew", "Michael", "Michelle", "Mildred", "Nancy", "Nicole",
    "Norma", "Pamela", "Patricia", "Patrick", "Paul", "Peter", "Phillip", "Rachel",
    "Ralph", "Raymond", "Rebecca", "Richard", "Robert", "Robin", "Roger", "Ronald",
    "Rose", "Russell", "Ruth", "Ryan", "Samuel", "Sandra", "Sara", "Scott", "Sean",
    "Shirley", "Stephen", "Steven", "Susan", "Teresa", "Thomas", "Timothy", "Todd",
    "Victor", "Walter", "Wanda", "Wayne", "William",
]
LAST_INITIALS = "ABCDEFGHIJKLMNOPQRSTUVWY"

PAYMENT_METHODS = ["credit_card", "coupon", "bank_transfer", "gift_card"]
PAYMENT_METHOD_WEIGHTS = [50, 15, 20, 15]


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _status_for(order_date: dt.date, rng: random.Random) -> str:
    """Recent orders are still in flight; older ones are completed or returned."""
    age = (LAST_DAY - order_date).days
    if age <= 3:
        return rng.choice(["placed", "placed", "shipped"])
    if age <= 10:
        return rng.choice(["shipped", "shipped", "completed", "return_pending"])
    return rng.choices(
        ["completed", "returned", "return_pending"], weights=[85, 10, 5]
    )[0]


def generate(rng: random.Random) -> dict[str, tuple[list[str], list[list[object]]]]:
    # customers -------------------------------------------------------------
    customers = [
        [cid, rng.choice(FIRST_NAMES), rng.choice(LAST_INITIALS) + "."]
        for cid in range(1, N_CUSTOMERS + 1)
    ]

    # orders ----------------------------------------------------------------
    span = (LAST_DAY - FIRST_DAY).days
    dates = sorted(FIRST_DAY + dt.timedelta(days=rng.randint(0, span)) for _ in range(N_ORDERS))
    # Make sure both ends of the range are used.
    dates[0], dates[-1] = FIRST_DAY, LAST_DAY
    # About a third of the customers order repeatedly; some never order.
    regulars = rng.sample(range(1, N_CUSTOMERS + 1), 30)
    orders = []
    for oid, order_date in enumerate(dates, start=1):
        if rng.random() < 0.45:
            user_id = rng.choice(regulars)
        else:
            user_id = rng.randint(1, N_CUSTOMERS)
        orders.append([oid, user_id, order_date.isoformat(), _status_for(order_date, rng)])

    # payments --------------------------------------------------------------
    order_ids = [o[0] for o in orders]
    without = set(rng.sample(order_ids, N_ORDERS_WITHOUT_PAYMENT))
    paid = [oid for oid in order_ids if oid not in without]
    twice = set(rng.sample(paid, N_ORDERS_WITH_TWO_PAYMENTS))
    order_date_by_id = {o[0]: dt.date.fromisoformat(o[2]) for o in orders}

    payments = []
    pid = 0
    for oid in paid:
        for _ in range(2 if oid in twice else 1):
            pid += 1
            method = rng.choices(PAYMENT_METHODS, weights=PAYMENT_METHOD_WEIGHTS)[0]
            status = "fail" if rng.random() < 0.08 else "success"
            if method == "coupon":
                amount = rng.randint(1, 10) * 100
            else:
                amount = rng.randint(1, 30) * 100 + rng.choice([0, 0, 0, 50, 99])
            created = order_date_by_id[oid]
            batched_at = dt.datetime.combine(created, dt.time(0, 0)) + dt.timedelta(
                hours=rng.randint(8, 22), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
            )
            payments.append(
                [
                    pid,
                    oid,
                    method,
                    status,
                    amount,
                    created.isoformat(),
                    batched_at.strftime("%Y-%m-%d %H:%M:%S"),
                ]
            )

    return {
        "jaffle_shop/customers.csv": (["id", "first_name", "last_name"], customers),
        "jaffle_shop/orders.csv": (["id", "user_id", "order_date", "status"], orders),
        "stripe/payment.csv": (
            ["id", "orderid", "paymentmethod", "status", "amount", "created", "_batched_at"],
            payments,
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "seeds",
        help="seed directory to write into (default: seeds/ next to this script)",
    )
    args = parser.parse_args(argv)

    tables = generate(random.Random(SEED))
    for rel_path, (header, rows) in tables.items():
        _write_csv(args.out / rel_path, header, rows)
        print(f"wrote {args.out / rel_path} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
