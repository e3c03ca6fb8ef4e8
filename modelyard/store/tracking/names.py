"""Random, friendly run names ("brave-owl-417"), as MLflow gives runs without a name."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "able amazing ambitious angry awesome bald bemused big blushing bold brave bright calm capable "
    "careful caring charming clean clever colorful crawling defiant delicate dapper eager efficient "
    "enchanting fearless funny gentle glamorous gregarious handsome honorable incongruous indecisive "
    "industrious judicious kindly languid likeable lyrical loud luxuriant magnificent mercurial merciful "
    "monumental nebulous nervous omniscient orderly peaceful polite powerful puzzled redolent resilient "
    "righteous rogue rumbling salty secretive selective sedate serious shivering silent skillful "
    "smiling spiffy stately suave sincere thoughtful trusting unequaled upbeat useful valuable victorious "
    "vibrant welcoming whimsical worried youthful zealous"
).split()
_NOUNS = (
    "ant ape asp auk bass bat bear bee bird boar bug calf carp cat chimp cod colt conch cow crab crane "
    "croc crow cub deer doe dog dolphin donkey dove duck eel elk fawn finch fish flea fly foal fowl fox "
    "frog gnat gnu goat goose grouse grub gull hare hawk hen hog horse hound jay kit kite koi lamb lark "
    "loon lynx mare midge mink mole moose moth mouse mule newt owl ox panda penguin perch pig pug quail "
    "ram rat ray robin roo rook seal shad shark sheep shoat shrew shrike skink skunk sloth slug smelt "
    "snail snake snipe sow sponge squid squirrel stag steed stoat stork swan tern toad trout turtle vole "
    "wasp whale wolf worm wren yak zebra"
).split()


def random_run_name(rng: random.Random | None = None) -> str:
    r = rng or random
    return f"{r.choice(_ADJECTIVES)}-{r.choice(_NOUNS)}-{r.randint(0, 999)}"
