"""The persona world builds, and each persona holds the roles it should."""


def test_world_personas_hold_their_roles(world):
    assert world.alice.user.roles == ["member"]
    assert world.mary.roles == ["station_manager"]
    assert world.lily.roles == ["village_liaison"]
    assert world.sam.roles == ["staff"]
    assert world.alice.team == world.bob.team != world.charlie.team
    assert list(world.station.managers.all()) == [world.mary]
    assert world.village.station == world.station
    assert list(world.village.liaisons.all()) == [world.lily]
