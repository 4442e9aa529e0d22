"""Short programs that use the engine's higher-order gradients, each runnable as
``python -m tinygrad_edu.examples.<name>``:

* ``newton``: Newton's method, with the second derivative and the Hessian from autograd;
* ``tanh_derivatives``: the first four derivatives of tanh by repeated ``grad``, against their closed forms;
* ``mlp_hessian``: the Hessian of a small MLP's loss in its parameters, against finite differences;
* ``gradient_penalty``: a training step with a WGAN-GP gradient penalty (double backprop), checked.

Each has a ``main()`` that prints its figures and returns them, so that the tests can check them.
"""
