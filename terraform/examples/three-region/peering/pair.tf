variable "pair" {
  description = "The two drnode regions this state peers, requester first: [\"eu-west\", \"us-east\"]. The three pairs of the example are each a state of their own."
  type        = list(string)

  validation {
    condition = (
      length(var.pair) == 2 && length(distinct(var.pair)) == 2 &&
      alltrue([for n in var.pair : contains([var.region_a.name, var.region_b.name, var.region_c.name], n)])
    )
    error_message = "pair must name two different regions among region_a, region_b and region_c."
  }
}
