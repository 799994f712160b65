from lessons import chart


def test_points_rise_with_the_values_and_spread_along_log_rows() -> None:
    drawn = chart.line_chart(
        "Queries",
        "queries",
        [20, 200, 1000, 20000],
        [chart.Series("bad", "bad", (21, 201, 1001, 20001)), chart.Series("good", "good", (2, 2, 2, 2))],
    )
    (bad, _, bad_dots), (good, _, good_dots) = drawn.lines
    xs = [x for x, _ in bad_dots]
    assert xs == sorted(xs)
    assert xs[0] == drawn.left and xs[-1] == drawn.right
    assert [y for _, y in bad_dots] == sorted((y for _, y in bad_dots), reverse=True)  # climbs
    assert len({y for _, y in good_dots}) == 1  # flat
    assert drawn.y_ticks[0].label == "0"
    assert float(drawn.y_ticks[-1].label) >= 20001
    assert [t.label for t in drawn.x_ticks] == ["20", "200", "1,000", "20,000"]
