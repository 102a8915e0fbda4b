# The coordinators. Each has a fixed private address (var.members), so the
# member list in every node's config is known before the first boot.
#
# user_data and the AMI are ignored after creation: a changed template must
# never replace a running coordinator behind the operator's back (a new
# instance has an empty data directory). Replace a node deliberately with
# `terraform apply -replace=...` after `drctl members remove` (docs/deploy.md);
# with bootstrapped = true it comes up with join = true.

resource "aws_instance" "coordinator" {
  for_each = local.nodes

  ami                         = var.ami_id != null ? var.ami_id : data.aws_ami.debian12[0].id
  instance_type               = var.instance_type
  subnet_id                   = local.subnet_ids[each.value.subnet]
  private_ip                  = each.value.private_ip
  associate_public_ip_address = var.associate_public_ip
  vpc_security_group_ids      = [aws_security_group.coordinator.id]
  iam_instance_profile        = aws_iam_instance_profile.coordinator.name

  user_data = local.cloud_init[each.key]

  # IMDSv2 only, and not from containers (one hop): the role's credentials
  # read the cluster token from SSM.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags = merge(local.tags, {
    Name        = "${local.name}-${each.key}"
    "drnode:id" = each.key
  })

  lifecycle {
    ignore_changes = [user_data, ami]
  }

  # cloud-init fetches the package on first boot: the routes out (and the
  # S3 endpoint) must exist before the instance does.
  depends_on = [
    aws_ssm_parameter.token,
    aws_ssm_parameter.tokens,
    aws_ssm_parameter.tls_key,
    aws_iam_role_policy.token,
    aws_route.internet,
    aws_route_table_association.this,
    aws_vpc_endpoint.s3,
    aws_vpc_security_group_egress_rule.web,
  ]
}
