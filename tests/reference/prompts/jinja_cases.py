#!/usr/bin/python3
"""Small Jinja snippets rendered by Debian's python3-jinja2 (promptsource's environment), for
tests/unit/prompts/test_jinja.cpp: writes jinja_cases.jsonl with {"source", "vars", "output"} or
{"source", "vars", "error": exception type, "message": its text}. Run with /usr/bin/python3."""
import json
import os
import random
from collections import Counter

import jinja2

HERE = os.path.dirname(os.path.abspath(__file__))

env = jinja2.Environment(loader=jinja2.BaseLoader)
env.globals.update(zip=zip)
env.filters["choice"] = lambda choices: random.choice(choices)


def most_frequent(items):
    if not items:
        return
    counts = Counter(items).most_common()
    return [c[0] for c in counts if c[1] == counts[0][1]]


env.filters["most_frequent"] = most_frequent

VARS = {
    "s": "  Héllo, World!\u3000",
    "t": "a|b||c",
    "n": 7,
    "m": -3,
    "f": 2.5,
    "z": 0,
    "b": True,
    "nil": None,
    "l": ["x", "y", "z"],
    "nums": [3, 1, 2],
    "e": [],
    "d": {"k": "v", "n": 1},
    "label": 1,
    "answer": "2",
    "uni": "日本語テキスト",
}

CASES = [
    "{{ s }}|{{ s.strip() }}|{{ s.lower() }}|{{ s.upper() }}|{{ s | trim }}",
    "{{ s.split() }}|{{ s.split(',') }}|{{ s.rsplit(None, 1) }}|{{ t.split('|') }}|{{ t.split('||') }}",
    "{{ s.replace('l', 'L') }}|{{ s.replace('l', 'L', 1) }}|{{ s | replace('o', '0') }}",
    "{{ s.startswith('  H') }}{{ s.endswith('!') }}{{ s.find('W') }}{{ s.count('l') }}{{ uni.find('テ') }}",
    "{{ n + m }} {{ n - m }} {{ n * m }} {{ n / m }} {{ n // m }} {{ n % m }} {{ m ** 2 }} {{ n ** -1 }}",
    "{{ f + n }} {{ f * 2 }} {{ f // 1 }} {{ -f % 2 }} {{ 1 / 3 }} {{ 2 / 3 * 3 }} {{ 1e-5 }} {{ 123456789.0 * 1e8 }}",
    "{{ n > m }} {{ n >= 7 }} {{ 'a' < 'b' }} {{ l == ['x','y','z'] }} {{ 1 == 1.0 }} {{ b == 1 }} {{ nil is none }}",
    "{{ 'y' in l }} {{ 'q' not in l }} {{ 'k' in d }} {{ 'ell' in s }}",
    "{{ b and n }} {{ z or 'fallback' }} {{ not e }} {{ nil or l }} {{ e and 1 }}",
    "{{ l[0] }}{{ l[-1] }}{{ l[1:] }}{{ l[::-1] }}{{ l[5] }}{{ uni[1:3] }}{{ uni[-2:] }}{{ s[::3] }}",
    "{{ l | join(', ') }}|{{ nums | join }}|{{ l | length }}|{{ s | length }}|{{ uni | length }}|{{ e | first }}",
    "{{ nums | first }}{{ nums | last }}{{ nums | list }}{{ 'ab' | list }}{{ nums | reverse | list }}{{ 'abc' | reverse }}",
    "{{ answer | int + 1 }}|{{ '  42 ' | int }}|{{ '4.9' | int }}|{{ 'x' | int }}|{{ 'x' | int(5) }}|{{ '3.5' | float }}|{{ n | float }}",
    "{{ nil }}|{{ nil | string }}|{{ b }}|{{ f }}|{{ d }}|{{ (1, 'a') }}|{{ (1,) }}|{{ [nil, b, f, 'it\\'s'] }}",
    "{{ missing }}|{{ missing | string }}|{{ missing is defined }}|{{ missing | default('dflt') }}|{{ e | default('x', true) }}",
    "{% for a, b in zip(l, nums) %}{{ a }}{{ b }}{{ loop.index0 }}{{ loop.revindex }}{% endfor %}",
    "{% for k in d %}{{ k }}={{ d[k] }};{% endfor %}{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}",
    "{% for x in nums if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in e %}{% else %}empty{% endfor %}",
    "{% set x = 1 %}{% for i in nums %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
    "{% set ns = namespace(total=0, seen=[]) %}{% for i in nums %}{% set ns.total = ns.total + i %}{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.total }}{{ ns.seen }}",
    "{% if n > 10 %}big{% elif n > 5 %}mid{% else %}small{% endif %}|{{ 'yes' if b else 'no' }}|{{ 'yes' if z }}",
    "{%- if true -%}   trimmed   {%- endif -%}  |  {{- ' x ' -}}  |",
    "a\n{# comment #}b\n{% if true %}\nc\n{% endif %}\n",
    "{{ \"tab\\there\" }}|{{ 'q\\'s' }}|{{ \"\\u00e9\\x41\\101\" }}|{{ 'a' 'b' }}|{{ '\\d' }}",
    "{{ [1, 2] + [3] }}{{ 'ab' * 2 }}{{ 2 * [0] }}{{ 'a' ~ 1 ~ nil ~ missing }}",
    "{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ dict(a=1, b='x') }}",
    "{{ l[label] }}{{ l[answer | int - 1] }}{{ l[label] | upper }}",
    "{{ 'x'.join(l) }}|{{ 'ab cd'.capitalize() }}|{{ 'Ab' | capitalize }}|{{ 'a\\nb\\r\\nc'.splitlines() }}",
    "{{ n is even }}{{ n is odd }}{{ n is divisibleby 7 }}{{ n is number }}{{ s is string }}{{ l is sequence }}{{ d is mapping }}{{ n is not none }}",
    "{{ nums.index(1) }}{{ l.count('x') }}{{ d.get('k') }}{{ d.get('zz', 'no') }}{{ d.keys() | list }}",
    "{{ (n - 1) | string | length }}|{{ -n | abs }}|{{ f | abs }}|{{ 'aaab' | list | most_frequent }}|{{ l | choice }}{{ l | choice }}",
    "{{ s | truncate(10) }}|{{ s | truncate(12, true) }}|{{ s | truncate(8, false, '..', 0) }}|{{ uni | truncate(5, true, '…', 0) }}",
    "{{ missing.attr }}",
    "{{ missing[0] }}",
    "{{ missing + 1 }}",
    "{{ n + 'a' }}",
    "{{ 1 / z }}",
    "{{ l < 3 }}",
    "{{ missing | int }}",
    "{{ n() }}",
    "{{ e | choice }}",
]


def main():
    out = []
    for source in CASES:
        random.seed(11)
        record = {"source": source}
        try:
            record["output"] = env.from_string(source).render(**VARS)
        except Exception as error:
            record["error"] = type(error).__name__
            record["message"] = str(error)
        out.append(record)
    with open(os.path.join(HERE, "jinja_cases.jsonl"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"vars": VARS, "seed": 11}, ensure_ascii=False) + "\n")
        for record in out:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
