//! Parity of the TV-DIP network with the PyTorch reference (issue 13 item 1): the numbers
//! PyTorch computes for a small skip net with fixed weights (`scripts/tv_dip_reference.py
//! --golden`, float64) — loss, output, every gradient and the loss after one Adam step — and
//! PyTorch's default initialisation statistics. The figures from the full-size comparison are
//! in `cargo bench -p engine --bench parity`.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW};
use engine::kernels::adam::Adam;
use engine::nuc::tv::TvLoss;
use engine::nuc::{SkipConfig, SkipNet};
use rand::SeedableRng;

/// `scripts/tv_dip_reference.py --golden` (torch 2.15, float64).
const LOSS: f64 = 82.85488069088451;
const OUT_SUM: f64 = 45.39864950837858;
const OUT_FIRST: f64 = 0.5240572613868593;
const OUT_LAST: f64 = 0.24162021743832518;
const LOSS_AFTER_ADAM: f64 = 81.65668801969043;
const OUT_SUM_AFTER_ADAM: f64 = 45.31753119737309;
/// L2 norm of each parameter's gradient; the biases of convolutions that feed a BatchNorm
/// have none (the normalisation removes any constant), so they are not listed and must be ~0.
const GRAD_NORMS: &[(&str, f64)] = &[
    ("l0.deep.weight", 26.38285613790901),
    ("l0.deep_bn.bias", 8.078064393803285),
    ("l0.deep_bn.weight", 5.31233684826935),
    ("l0.down.weight", 10.348511596492145),
    ("l0.down_bn.bias", 0.5535374123915688),
    ("l0.down_bn.weight", 0.06795867768092004),
    ("l0.merge_bn.weight", 2.4915596877890067),
    ("l0.skip.weight", 3.2725562678622655),
    ("l0.skip_bn.bias", 0.7386707275244102),
    ("l0.skip_bn.weight", 0.06477058139634277),
    ("l0.up.weight", 27.684674595627364),
    ("l0.up1x1.weight", 1.7468762431752318),
    ("l0.up1x1_bn.bias", 3.7439664792947918),
    ("l0.up1x1_bn.weight", 6.34708972863924),
    ("l0.up_bn.bias", 0.789777262871521),
    ("l0.up_bn.weight", 0.3427335189799562),
    ("l1.deep.weight", 2.60978600933757),
    ("l1.deep_bn.bias", 0.10901629799131612),
    ("l1.deep_bn.weight", 0.007704746001759311),
    ("l1.down.weight", 1.6712557334904448),
    ("l1.down_bn.bias", 0.22498387120363225),
    ("l1.down_bn.weight", 0.0354164155579859),
    ("l1.merge_bn.weight", 0.6184936880149016),
    ("l1.skip.weight", 15.658115204227794),
    ("l1.skip_bn.bias", 1.4793300563889504),
    ("l1.skip_bn.weight", 0.09655801785310235),
    ("l1.up.weight", 19.202861324140013),
    ("l1.up1x1.weight", 1.2500588691523529),
    ("l1.up1x1_bn.bias", 0.7092121059831521),
    ("l1.up1x1_bn.weight", 0.04732287655343951),
    ("l1.up_bn.bias", 0.6039324485012014),
    ("l1.up_bn.weight", 0.426502933108795),
    ("out.bias", 2.3627627730721956),
    ("out.weight", 18.919113482789093),
];

const H: usize = 8;
const W: usize = 12;

/// The script's `golden_values`: parameter `p` of the sorted names.
fn golden_values(name: &str, shape: &[usize], p: usize) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|j| {
            let wave = (0.7 * j as f64 + 1.3 * p as f64 + 0.5).sin();
            let v = if shape.len() == 4 {
                wave / ((shape[1] * shape[2] * shape[3]) as f64).sqrt()
            } else if name.ends_with("_bn.weight") {
                1.0 + 0.1 * wave
            } else {
                0.1 * wave
            };
            v as f32
        })
        .collect()
}

fn golden_net() -> SkipNet {
    let cfg = SkipConfig {
        levels: 2,
        channels_down: 4,
        channels_up: 4,
        channels_skip: 2,
        input_depth: 3,
        zero_init_output: false,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net = SkipNet::new(&cfg, &mut rng, &Device::Cpu).unwrap();
    let mut names: Vec<&str> = net
        .params()
        .vars()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    for (name, var) in net.params().vars() {
        let p = names.iter().position(|n| n == name).unwrap();
        let v = golden_values(name, var.dims(), p);
        var.set(&Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap())
            .unwrap();
    }
    net
}

fn golden_inputs() -> (Tensor, Arc<Vec<f32>>) {
    let z: Vec<f32> = (0..3 * H * W)
        .map(|j| (0.05 * (1.0 + (0.91 * j as f64).sin())) as f32)
        .collect();
    let y: Vec<f32> = (0..H * W)
        .map(|k| {
            let k = k as f64;
            (0.5 + 0.3 * (0.37 * k).sin() + 0.1 * (0.05 * k * k).sin()) as f32
        })
        .collect();
    (
        Tensor::from_vec(z, (1, 3, H, W), &Device::Cpu).unwrap(),
        Arc::new(y),
    )
}

/// Adam as the reference script builds it: `torch.optim.Adam(lr=1e-3)` with PyTorch's defaults.
fn torch_adam(net: &SkipNet) -> Adam {
    Adam::new(
        net.params().all_vars(),
        ParamsAdamW {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )
    .unwrap()
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-12),
        "{what}: engine {got}, PyTorch {want} (relative tolerance {rel})"
    );
}

fn scalar(t: &Tensor) -> f64 {
    f64::from(t.to_scalar::<f32>().unwrap())
}

#[test]
fn skip_net_matches_pytorch_loss_gradients_and_adam_step() {
    let net = golden_net();
    let (z, y) = golden_inputs();
    let loss_of = |out: &Tensor| {
        TvLoss::new(y.clone(), W, H, vec![(2, 1.0), (1, 1.0)])
            .loss(out)
            .unwrap()
    };
    let out = net.forward(&z, H, W).unwrap();
    let v = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    close("output[0]", f64::from(v[0]), OUT_FIRST, 1e-5);
    close("output[last]", f64::from(v[H * W - 1]), OUT_LAST, 1e-5);
    close(
        "output sum",
        v.iter().map(|&x| f64::from(x)).sum(),
        OUT_SUM,
        1e-5,
    );
    let loss = loss_of(&out);
    close("loss", scalar(&loss), LOSS, 1e-5);
    let grads = loss.backward().unwrap();
    for (name, var) in net.params().vars() {
        let g = grads.get(var.as_tensor()).unwrap();
        let norm = scalar(&g.sqr().unwrap().sum_all().unwrap()).sqrt();
        match GRAD_NORMS.iter().find(|(n, _)| n == name) {
            Some(&(_, want)) => close(&format!("gradient of {name}"), norm, want, 1e-3),
            None => assert!(norm < 1e-4, "gradient of {name} should vanish, got {norm}"),
        }
    }
    let mut opt = torch_adam(&net);
    opt.step(&grads).unwrap();
    let out2 = net.forward(&z, H, W).unwrap();
    close(
        "output sum after one Adam step",
        scalar(&out2.sum_all().unwrap()),
        OUT_SUM_AFTER_ADAM,
        1e-5,
    );
    close(
        "loss after one Adam step",
        scalar(&loss_of(&out2)),
        LOSS_AFTER_ADAM,
        1e-5,
    );
}

#[test]
fn initialisation_is_pytorchs_default() {
    // Conv2d: kaiming_uniform(a = √5) → U(±1/√fan_in) for the weights and the biases alike;
    // BatchNorm2d: γ = 1, β = 0.
    let cfg = SkipConfig {
        channels_down: 32,
        channels_up: 32,
        ..SkipConfig::reference()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let net = SkipNet::new(&cfg, &mut rng, &Device::Cpu).unwrap();
    let mut convs = 0;
    let weights: Vec<(&str, Vec<f32>, Vec<usize>)> = net
        .params()
        .vars()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str(),
                v.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                v.dims().to_vec(),
            )
        })
        .collect();
    for (name, v, dims) in &weights {
        if name.contains("_bn.") {
            let want = if name.ends_with(".weight") { 1.0 } else { 0.0 };
            assert!(v.iter().all(|&x| x == want), "{name} is not {want}");
            continue;
        }
        // The conv's fan-in: from its weight's shape (a bias shares its weight's bound).
        let wname = name.replace(".bias", ".weight");
        let wd = &weights.iter().find(|(n, _, _)| *n == wname).unwrap().2;
        let bound = 1.0 / ((wd[1] * wd[2] * wd[3]) as f64).sqrt();
        assert!(
            v.iter().all(|&x| f64::from(x).abs() <= bound),
            "{name}: values beyond ±{bound}"
        );
        if dims.len() == 4 && v.len() >= 4096 {
            // U(−b, b): mean 0, standard deviation b/√3.
            convs += 1;
            let n = v.len() as f64;
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
            let sd = (v
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt();
            let want = bound / 3f64.sqrt();
            assert!(mean.abs() < 0.05 * bound, "{name}: mean {mean}");
            assert!(
                (sd / want - 1.0).abs() < 0.05,
                "{name}: sd {sd}, want {want}"
            );
        }
    }
    assert!(convs >= 10, "only {convs} large convolutions checked");
}

/// The product path is the reference loop: `TvDipEstimator` (σ = 0, one frame per step) gives
/// bit for bit the pattern of a hand-written loop that draws, in this order, the network
/// (PyTorch default init), z ~ U[0, z_scale), then per step one frame and the schedule's k, k1,
/// and normalises frames by their range. With the golden test above (the network, loss and
/// Adam against PyTorch) and the parity bench's lockstep run, this pins equal work end to end:
/// any change to the fit's plumbing (sampling, normalisation, schedule, final pattern) fails
/// here.
#[test]
fn estimator_is_the_reference_loop() {
    use engine::nuc::schedule::{ScheduleKind, StepSchedule};
    use engine::nuc::{Budget, FrameSet, PatternEstimator, TvDipEstimator};
    use rand::Rng;
    use std::ops::ControlFlow;

    let (w, h, n, steps, seed) = (20, 16, 3, 12, 7u64);
    let frames: Vec<Vec<f32>> = (0..n)
        .map(|f| {
            (0..w * h)
                .map(|i| {
                    let (y, x) = ((i / w) as f32, (i % w) as f32);
                    40.0 + 3.0 * (x + f as f32 * 2.0).sin() * y + ((i * 7 + f) % 11) as f32
                })
                .collect()
        })
        .collect();
    let set = FrameSet::new(w, h, frames.clone()).unwrap();
    let text = format!(
        "preset = \"paper\"\nsteps = {steps}\nschedule = \"spn\"\ncompress_schedule = true\n\
         reg_noise_std = 0.0\nseed = {seed}\n[net]\nlevels = 2\nchannels_down = 4\n\
         channels_up = 4\nchannels_skip = 2\ninput_depth = 3\n"
    );
    let cfg = engine::nuc::FitConfig::from_toml_str(&text).unwrap();
    let got = TvDipEstimator::new(cfg.clone())
        .unwrap()
        .estimate(&set, &Budget::default(), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(got.steps, steps);

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let net = SkipNet::new(&cfg.net, &mut rng, &Device::Cpu).unwrap();
    let (hp, wp) = cfg.net.padded(h, w);
    let zv: Vec<f32> = (0..3 * hp * wp).map(|_| rng.gen_range(0.0..0.1)).collect();
    let z = Tensor::from_vec(zv, (1, 3, hp, wp), &Device::Cpu).unwrap();
    let (lo, hi) = set.range();
    let span = hi - lo;
    let targets: Vec<Arc<Vec<f32>>> = frames
        .iter()
        .map(|f| Arc::new(f.iter().map(|v| (v - lo) / span).collect()))
        .collect();
    let mut opt = torch_adam(&net);
    let schedule = StepSchedule::new(ScheduleKind::Spn, steps, true, 1.0);
    for step in 0..steps {
        let i = rng.gen_range(0..n);
        let terms = schedule.terms(step, &mut rng);
        let out = net.forward(&z, h, w).unwrap();
        let loss = TvLoss::new(targets[i].clone(), w, h, terms.tv)
            .loss(&out)
            .unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let out = net.forward(&z, h, w).unwrap();
    let want: Vec<f32> = out
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v * span)
        .collect();
    let want = engine::nuc::Pattern::new(w, h, want).unwrap();
    assert_eq!(
        got.pattern.data(),
        want.data(),
        "estimator and reference loop differ"
    );
}
