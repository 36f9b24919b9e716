package dev.csierofs.csi;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * {@code /q/health/ready}: down until the volumes recorded by an earlier process are published
 * again, as CSI's Probe answers (the chart's readiness probe uses this).
 */
@Readiness
@ApplicationScoped
public class RecoveryReadiness implements HealthCheck {
    @Inject
    NodeState state;

    @Override
    public HealthCheckResponse call() {
        var r = HealthCheckResponse.named("volume-state-recovered").status(state.ready())
                .withData("volumes", state.ready() ? state.volumes().published().size() : 0);
        if (state.problem() != null) {
            r.withData("problem", state.problem());
        }
        return r.build();
    }
}
