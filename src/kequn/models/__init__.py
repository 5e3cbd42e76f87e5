"""Prediction models (透视图): estimators with the scikit-learn contract, uplift learners, honest metrics,
public-data benchmarks, and (routing) the probability-of-default model."""
