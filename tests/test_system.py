from systems import binary_frame

from keel.system import System


def test_trained_model_is_reused_from_cache_on_second_system(make_system):
    system = make_system(binary_frame(2000), binary_frame(800, seed=1))
    first = system.trained
    again = System.from_path(system.config_file)
    second = again.trained
    assert second.metric == first.metric
    assert second.train_seconds == first.train_seconds  # identical record: loaded, not retrained
    assert first.metric > 0.7
