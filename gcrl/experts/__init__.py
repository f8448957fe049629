"""Expert locomotion policies, trained with SAC as OGBench trains the ones its datasets were collected with."""
