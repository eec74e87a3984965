from scaler.stops import Saturation


def feed(sat, running, dt=5.0, requested_grew=True):
    out = []
    for i, r in enumerate(running, start=1):
        out.append(sat.update(i, i * dt, r, requested_grew))
    return out


def test_linear_growth_is_never_saturation():
    sat = Saturation(steps=3, window_s=0)
    assert not any(feed(sat, range(1, 200)))


def test_plateau_is_detected_after_n_steps_and_reported_where_it_began():
    sat = Saturation(steps=4, window_s=0)
    flags = feed(sat, [1, 2, 3, 4, 5, 5, 5, 5, 5, 5])
    assert flags.index(True) == 8  # step 9: four flat steps (6, 7, 8, 9)
    assert sat.first_saturation_step == 6  # step 5 was the last new high


def test_creeping_by_a_pod_now_and_then_is_still_saturation():
    sat = Saturation(steps=5, window_s=0)
    running = list(range(1, 101)) + [100, 100, 101, 100, 101, 101, 102, 101, 101]
    flags = feed(sat, running)
    assert flags[-1] and sat.first_saturation_step is not None
    assert 100 < sat.first_saturation_step <= 108


def test_real_growth_clears_a_detection():
    sat = Saturation(steps=3, window_s=0)
    flags = feed(sat, [10, 10, 10, 10, 10, 20, 30])
    assert flags[4] and not flags[5] and not flags[6]
    assert sat.detected_step is None and sat.first_saturation_step == 2


def test_time_window_keeps_short_steps_from_calling_startup_a_saturation():
    # no-wait: 0.3 s steps and nothing running yet for the first 20 steps
    sat = Saturation(steps=10, window_s=60)
    flags = feed(sat, [0] * 20 + list(range(1, 50)), dt=0.3)
    assert not any(flags)


def test_steps_where_requested_did_not_grow_do_not_count():
    sat = Saturation(steps=2, window_s=0)
    assert not any(sat.update(i, i, 5, False) for i in range(1, 50))
